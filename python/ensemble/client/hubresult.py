"""AsyncHubResult: results this client did not send, fetched from the controller."""

from .. import error
from .asyncresult import AsyncResult


class AsyncHubResult(AsyncResult):
    """An AsyncResult for requests fetched from the controller by msg_id
    (sent by another client, or no longer cached here)."""

    _outputs_fetched = False
    _OUTPUT_KEYS = ["stdout", "stderr", "execute_input", "execute_result", "error"]

    def wait(self, timeout=-1):
        ready = super().wait(timeout)
        if ready and not self._outputs_fetched:
            self._outputs_fetched = True
            self._fetch_outputs()
        return ready

    def _fetch_outputs(self):
        """Fills the metadata of results fetched from the controller with the outputs it
        kept (stdout, stderr, execute_result...): those went to the client that sent the
        request, not here. ipyparallel's hub sends them with the result."""
        fetched = {child.msg_id: child for child in self._children if getattr(child, "from_hub", False)}
        if not fetched:
            return
        try:
            records = self._client.db_query({"msg_id": {"$in": list(fetched)}}, keys=self._OUTPUT_KEYS)
        except Exception:  # the outputs are extras: a closed client or a full store keeps the result
            return
        for record in records:
            md = fetched[record["msg_id"]].metadata
            for key in ("stdout", "stderr"):
                if record.get(key) and not md[key]:
                    dict.__setitem__(md, key, record[key])
            for key in ("execute_input", "execute_result"):
                if record.get(key) is not None and md[key] is None:
                    dict.__setitem__(md, key, record[key])
            if record.get("error") and md["error"] is None:
                dict.__setitem__(md, "error", error.unwrap_exception(record["error"]))

    def _collect_exceptions(self, results):
        # ipyparallel fetches these through result_status, which raises the one failure of a
        # single msg_id as it is: get_result([msg_id]) and resubmit([msg_id]) of a failed
        # task raise its RemoteError, not a CompositeError around it.
        if len(results) == 1 and isinstance(results[0], error.RemoteError) and not self._return_exceptions:
            raise results[0]
        return super()._collect_exceptions(results)

"""The client's view of the controller's task store: ``db_query``,
``resubmit`` and ``result_status`` (ipyparallel's names and semantics)."""

from datetime import datetime, timezone

from .. import error
from .hubresult import AsyncHubResult
from .futures import MessageFuture
from .metadata import Metadata
from .util import parse_date

_DATE_KEYS = ("submitted", "started", "completed", "received")


def _wire_date(value):
    """Dates are stored as the ISO 8601 text of message headers (UTC,
    microseconds, "Z"), so queries compare them in that form."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dict):
        return {k: _wire_date(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_wire_date(v) for v in value]
    return value


def _parse_header_dates(header):
    if isinstance(header, dict) and "date" in header:
        header = dict(header, date=parse_date(header["date"]))
    return header


class TaskDbMixin:
    def db_query(self, query, keys=None):
        """Task records matching a MongoDB-style ``query`` ($lt, $gt, $lte,
        $gte, $eq, $ne, $in, $nin, $all, $mod, $exists). ``keys`` picks the
        fields (msg_id is always there); the default is all but buffers."""
        if isinstance(keys, str):
            keys = [keys]
        reply = self._send_recv("db_request", {"query": _wire_date(query), "keys": keys})
        content = reply["content"]
        if content.get("status") != "ok":
            raise error.unwrap_exception(content)
        records = content["records"]
        buffers = list(reply["buffers"])
        buffer_lens, result_buffer_lens = content["buffer_lens"], content["result_buffer_lens"]
        # the controller sends every record's request buffers, then every result's
        result_buffers = buffers[sum(buffer_lens or []):]
        for i, rec in enumerate(records):
            for key in ("header", "result_header"):
                if key in rec:
                    rec[key] = _parse_header_dates(rec[key])
            for key in _DATE_KEYS:
                if key in rec:
                    rec[key] = parse_date(rec[key])
            if buffer_lens is not None:
                rec["buffers"], buffers = buffers[:buffer_lens[i]], buffers[buffer_lens[i]:]
            if result_buffer_lens is not None:
                n = result_buffer_lens[i]
                rec["result_buffers"], result_buffers = result_buffers[:n], result_buffers[n:]
        return records

    def resubmit(self, indices_or_msg_ids=None, metadata=None, block=None):
        """Run earlier tasks again, under new msg_ids, through the scheduler.
        Returns an AsyncHubResult for the new ones."""
        block = self.block if block is None else block
        if indices_or_msg_ids is None:
            indices_or_msg_ids = -1
        old_ids = self._msg_ids_from_jobs(indices_or_msg_ids)
        new_ids = [self._new_msg_id() for _ in old_ids]
        # futures first: a quick task's reply may arrive before resubmit_reply
        futures = []
        with self._lock:
            for msg_id in new_ids:
                future = MessageFuture(msg_id, Metadata(msg_id=msg_id), None)
                self.metadata[msg_id] = future.metadata
                self._futures[msg_id] = future
                self.outstanding.add(msg_id)
                self._outstanding_dict[None].add(msg_id)
                futures.append(future)
        reply = self._send_recv("resubmit_request", {"msg_ids": old_ids, "new_msg_ids": new_ids})
        content = reply["content"]
        if content.get("status") != "ok":
            with self._lock:
                for msg_id in new_ids:
                    self._discard(msg_id)
            raise error.unwrap_exception(content)
        ar = AsyncHubResult(self, futures)
        if block:
            ar.wait()
        return ar

    def result_status(self, msg_ids, status_only=True):
        """``{"pending": [...], "completed": [...]}``; with status_only=False,
        completed results are also keyed by msg_id."""
        theids = self._msg_ids_from_jobs(msg_ids)
        cached = self.results
        if all(m in cached for m in theids):
            # ipyparallel answers from its cache when it holds every result: no "status"
            status = {"pending": [], "completed": list(theids)}
            if not status_only:
                status.update((m, cached[m]) for m in theids)
            return status
        # ipyparallel asks the controller about every id without a cached result, and
        # returns its answer, which has a "status" (first). A result this client holds is
        # final; any other is the controller's to tell, even one it has sent here already
        # (its reply may not have been read yet).
        futures = {m: self._futures.get(m) for m in theids if m not in cached}
        unsure = [m for m, f in futures.items() if f is None or not f.done()]
        pending = set()
        if unsure:
            # the controller sends the finished ones' replies before its answer, so their
            # futures are resolved by the time it is read
            fetched, answer = self._fetch_from_hub(unsure, keep_results=not status_only)
            futures.update(fetched)
            pending.update(answer.get("pending", ()))
        status = {"status": "ok", "pending": [], "completed": []}
        failures = []
        for msg_id in theids:
            done = msg_id not in pending
            status["completed" if done else "pending"].append(msg_id)
            if done and not status_only:
                if msg_id not in futures:  # held here before the call
                    status[msg_id] = cached[msg_id]
                    continue
                status[msg_id] = value = futures[msg_id].result()
                if isinstance(value, error.RemoteError):
                    failures.append(value)
        # as ipyparallel: a failure the controller told about is raised (a cached one is not)
        if len(theids) == 1 and failures:
            raise failures[0]
        error.collect_exceptions(failures, "result_status")
        return status

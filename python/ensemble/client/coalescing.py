"""A coalescing broadcast (``rc.broadcast_view(is_coalescing=True)``): one request, one
msg_id and one reply for all its engines, as ipyparallel's coalescing scheduler gives them.

The controller still answers each engine under ``<msg_id>_<engine id>`` (docs/
parallel-protocol.md, "Broadcast"); here those per-engine futures stay the client's own
business (filed, so that an engine's departure fails its part, but out of ``history`` and
``outstanding``) and one MessageFuture under the request's msg_id stands for them: it
resolves with the engines' results as a list, in target order, once all have replied, or
with a CompositeError if any failed (ipyparallel 7.1 gives the list and drops the
failures). Its metadata is ipyparallel's for a coalesced reply (``engine_id`` and
``engine_uuid`` are lists, ``is_coalescing`` is true), and it takes the engines' outputs
(stdout and stderr joined in target order) once all are in.
"""

import itertools

from .. import error
from .futures import MessageFuture, outcome, untrack, when_all
from .metadata import request_metadata


def coalesce(client, msg_id, parts, submitted, fname):
    """The one future for a coalescing broadcast sent as ``msg_id`` whose per-engine futures
    are ``parts`` (just filed by Client.send_broadcast, with ``client._lock`` held)."""
    md = request_metadata(msg_id, submitted, None)
    dict.update(md, is_broadcast=True, is_coalescing=True)
    whole = MessageFuture(msg_id, md)
    untrack(md, md["outputs"], whole, whole.output)  # as any request's (see MessageFuture)
    client.metadata[msg_id] = md
    client._futures[msg_id] = whole
    client.outstanding.add(msg_id)
    # the parts were filed last, together, under the lock: the request stands in their place
    del client.history[len(client.history) - len(parts):]
    client.history.append(msg_id)
    for part in parts:
        client.outstanding.discard(part.msg_id)
    # The parts stay filed until they have both their replies and their outputs (either may
    # come first: replies and iopub travel apart); a part no longer filed would drop its reply.
    halves = itertools.count(1)

    def let_go_of_parts():
        if next(halves) == 2:
            with client._lock:
                for part in parts:
                    client._discard(part.msg_id)

    def replied():
        results = [outcome(part) for part in parts]
        _merge_metadata(md, [part.metadata for part in parts])
        try:
            result = error.collect_exceptions(results, fname)
        except error.CompositeError as failure:
            result = failure
        client._finish(whole, result)
        let_go_of_parts()

    def outputs_in():
        for key in ("stdout", "stderr"):
            md[key] = "".join(part.metadata.get(key) or "" for part in parts)
        for part in parts:
            md["outputs"].extend(part.metadata.get("outputs") or ())
        client._output_complete(whole)
        let_go_of_parts()

    when_all(parts, replied)
    when_all([part.output for part in parts], outputs_in)
    return whole


def _merge_metadata(md, parts):
    """ipyparallel's metadata of a coalesced reply, from each engine's."""
    md["engine_id"] = [part.get("engine_id") for part in parts]
    md["engine_uuid"] = [part.get("engine_uuid") for part in parts]
    statuses = {part.get("status") for part in parts}
    md["status"] = "ok" if statuses == {"ok"} else "error"
    for key, pick in (("started", min), ("completed", max), ("received", max)):
        dates = [part.get(key) for part in parts if part.get(key) is not None]
        md[key] = pick(dates) if dates else None

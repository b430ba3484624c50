"""The Client's event thread, which reads its ``_core.Connection`` (or stands
aside while a thread waiting for a result reads: turns.py).

One daemon thread per Client loops on ``conn.next_events(timeout)``, and
whichever thread reads dispatches:

* ``shell`` replies resolve the request's MessageFuture (keyed by the parent
  msg_id) or a waiter of a controller/control request;
* ``iopub`` messages fill the request's Metadata (stdout, stderr, outputs,
  execute_result, error, ``started`` from ``status: busy``) and
  ``status: idle`` completes its outputs, or the reply does when its metadata
  says ``"outputs": "none"`` (an engine's apply that published nothing sends
  no busy or idle: docs/parallel-protocol.md); controller notifications
  update the engine list;
* ``lost`` fails everything pending with an EngineError: nothing waits forever.

Futures are resolved on this thread, so their callbacks run here, except while
a user thread waits for a result: that thread then reads and dispatches the
events itself, and this one steps aside (turns.py).
"""

import json
import logging
import threading
import time

from .. import error, serialize
from .metadata import ExecuteReply
from .turns import TakingTurns
from .util import parse_date, utcnow

log = logging.getLogger("ensemble.client")

# How long outputs may trail their reply before we stop waiting for the
# engine's `status: idle` (iopub and shell are separate paths).
OUTPUT_GRACE_SECONDS = 2.0


def _loads(text):
    if not text:
        return {}
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8")
    return json.loads(text)


class EventThread(TakingTurns, threading.Thread):
    def __init__(self, client):
        super().__init__(name="ensemble-client-events", daemon=True)
        self.client = client
        self._conn = client._conn  # its own reference: tests wrap client._conn after the start
        self.stopping = False
        # msg_id -> monotonic deadline; insertion order is deadline order (one
        # constant grace after each reply), so expiry only ever looks at the front.
        self._output_deadlines = {}
        self._init_turns()

    def _dispatch(self, events):
        if self._output_deadlines:
            self._expire_output_waits()
        for event in events:
            self._handle(event)

    def _handle(self, event):
        kind = event[0]
        try:
            if kind == "status":  # pre-parsed by _core: (kind, engine_id, parent msg_id, state, date)
                self.on_status(event[1], event[2], event[3], event[4], None)
                return
            if kind == "applied":  # pre-parsed by _core, see on_applied
                self.on_applied(*event[1:])
                return
            if kind == "lost":
                # pending results are failed; the sockets reconnect by themselves if a
                # controller comes back (ensemble controller --restore)
                self.client._on_lost()
                return
            if kind == "reconnected":
                self.client._lost = False
                return
            msg = {
                "msg_type": event[2],
                "header": _loads(event[3]),
                "parent_header": _loads(event[4]),
                "metadata": _loads(event[5]),
                "content": _loads(event[6]),
                "buffers": list(event[7] or []),
            }
            msg["header"].setdefault("msg_type", event[2])
            if kind in ("shell", "control"):
                self.on_reply(event[1], msg)
            elif kind == "iopub":
                self.on_iopub(event[1], msg)
        except Exception:
            log.exception("failed to handle a %s event", kind)

    # -- replies -----------------------------------------------------------

    def on_reply(self, engine_id, msg):
        client = self.client
        msg_id = msg["parent_header"].get("msg_id")
        waiter = client._reply_waiters.pop(msg_id, None)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(msg)
            return
        future = client._futures.get(msg_id)
        if future is None or future.done():
            return
        content, reply_md = msg["content"], msg["metadata"]
        status = content.get("status")
        md = self._record_reply(future, engine_id, status, msg["header"].get("date"),
                                reply_md.get("started"), reply_md.get("engine_uuid"),
                                msg["parent_header"].get("date"))
        expect_output = not future.from_hub and reply_md.get("outputs") != "none"
        if status == "ok":
            result = self._ok_result(msg_id, msg, md)
        elif status == "aborted":
            result = error.TaskAborted(msg_id)
            expect_output = False
        else:
            info = dict(content.get("engine_info") or {})
            if info.get("engine_id") is None and future.engine_id is not None:
                info["engine_id"] = future.engine_id
            info.setdefault("method", _method(msg["msg_type"]))
            content = dict(content, engine_info=info)
            result = error.unwrap_exception(content)
            if content.get("ename") == "EngineError" or engine_id < 0:
                expect_output = False  # the controller answered: no engine ran it
        self._finish(future, result, expect_output)

    def on_applied(self, engine_id, msg_id, date, started, engine_uuid, parent_date, outputs, buffers):
        """An engine's ``apply_reply`` with status ok, its fields read by _core
        (the GIL released): most replies, taken without building a message."""
        client = self.client
        future = client._futures.get(msg_id)
        if msg_id in client._reply_waiters or future is None or future.done():
            if msg_id in client._reply_waiters:
                self.on_reply(engine_id, _applied_message(msg_id, date, started, engine_uuid,
                                                           parent_date, outputs, buffers))
            return
        md = self._record_reply(future, engine_id, "ok", date, started, engine_uuid, parent_date)
        self._finish(future, self._unpacked(buffers, md), not future.from_hub and outputs != "none")

    def _record_reply(self, future, engine_id, status, date, started, engine_uuid, parent_date):
        """Fill a request's metadata from its reply; returns it."""
        md = future.metadata
        if future.engine_id is None and engine_id >= 0:
            future.engine_id = engine_id
        completed = parse_date(date)
        # dict.update: every key is one of Metadata's, and Metadata.update checks each in Python
        dict.update(
            md,
            received=completed if future.from_hub and completed is not None else utcnow(),
            completed=completed,
            status=status,
            engine_id=future.engine_id,
            engine_uuid=engine_uuid or self.client._engines.get(future.engine_id),
            # a reply carries no dependencies: ipyparallel's client reads them from its
            # metadata, and so has [] for each once the reply is in (None before)
            follow=[],
            after=[],
        )
        # another client's request (from_hub) reached the controller when the engine replied
        # (as ipyparallel's hub records it), not when this client fetched it: "received" above
        if started:
            dict.__setitem__(md, "started", parse_date(started))
        if md["submitted"] is None and parent_date:
            dict.__setitem__(md, "submitted", parse_date(parent_date))
        if engine_id in self.client._direct and not future.from_hub:
            # the controller has this reply a moment later, from the engine: the
            # client's next controller request waits for it (SendingMixin._send_waited)
            self.client._last_direct_replies[engine_id] = future.msg_id
        return md

    def _finish(self, future, result, expect_output):
        self.client._finish(future, result)
        if expect_output and not future.output.done():
            self._output_deadlines[future.msg_id] = time.monotonic() + OUTPUT_GRACE_SECONDS
        else:
            self.client._output_complete(future)

    def _ok_result(self, msg_id, msg, md):
        if msg["msg_type"] == "execute_reply":
            return ExecuteReply(msg_id, msg["content"], md)
        return self._unpacked(msg["buffers"], md)

    @staticmethod
    def _unpacked(buffers, md):
        try:
            return serialize.unpack_result(buffers) if buffers else None
        except Exception as exc:  # e.g. a class the client cannot import
            return error.RemoteError(type(exc).__name__, "cannot unpickle the result: %s" % exc,
                                     "", {"engine_id": md["engine_id"], "method": "apply"})

    def _expire_output_waits(self):
        # O(expired) per event, not O(waiting): thousands of pipelined replies
        # may wait for their `idle` at once.
        now = time.monotonic()
        waits = self._output_deadlines
        while waits:
            msg_id, deadline = next(iter(waits.items()))
            if deadline > now:
                return
            del waits[msg_id]
            future = self.client._futures.get(msg_id)
            if future is not None and not future.output.done():
                self.client._output_complete(future)

    # -- iopub -------------------------------------------------------------

    def on_iopub(self, engine_id, msg):
        msg_type = msg["msg_type"]
        if engine_id < 0:
            self.client._on_notification(msg_type, msg["content"])
            return
        msg_id = msg["parent_header"].get("msg_id")
        future = self.client._futures.get(msg_id)
        if future is None:
            return
        if msg_type == "status":
            self.on_status(engine_id, msg_id, msg["content"].get("execution_state"),
                           msg["header"].get("date"), msg)
            return
        # filed and its callbacks read under the lock stream_output() takes (display.py)
        with self.client._iopub_lock:
            md, content = future.metadata, msg["content"]
            if msg_type == "stream":
                name = content.get("name", "stdout")
                if name in ("stdout", "stderr"):
                    md[name] = _apply_carriage_returns((md[name] or "") + content.get("text", ""))
            elif msg_type == "error":
                # an apply's error says so itself (engine_info, method "apply"); an execute's
                info = content.get("engine_info") or {"engine_id": engine_id, "method": "execute"}
                md["error"] = error.unwrap_exception(dict(content, engine_info=info))
            elif msg_type == "execute_input":
                md["execute_input"] = content.get("code")
            elif msg_type == "display_data":
                md["outputs"].append(content)
            elif msg_type == "execute_result":
                md["execute_result"] = content
            elif msg_type == "data_message":
                try:
                    md["data"].update(serialize.unpack_result(msg["buffers"]))
                except Exception:
                    log.exception("bad data_message")
            callbacks = list(future.iopub_callbacks)
        self._call_back(callbacks, msg)

    def on_status(self, engine_id, msg_id, state, date, msg):
        """An engine's busy/idle for a request (``msg`` None when _core
        pre-parsed it: it is made up only if a callback wants it)."""
        future = self.client._futures.get(msg_id)
        if future is None:
            return
        md = future.metadata
        if state == "busy" and md["started"] is None:
            md["started"] = parse_date(date)
        elif state == "idle":
            self._output_deadlines.pop(msg_id, None)
            self.client._output_complete(future)
        if future.iopub_callbacks:
            if msg is None:
                msg = {"msg_type": "status", "header": {"msg_type": "status", "date": date},
                       "parent_header": {"msg_id": msg_id}, "metadata": {},
                       "content": {"execution_state": state}, "buffers": []}
            self._call_back(list(future.iopub_callbacks), msg)

    def _call_back(self, callbacks, msg):
        for callback in callbacks:
            try:
                callback(msg)
            except Exception:
                log.exception("iopub callback failed")


def _applied_message(msg_id, date, started, engine_uuid, parent_date, outputs, buffers):
    """The message on_applied's fields came from, for the rare reader of the
    whole message (a waiter of a reply)."""
    return {"msg_type": "apply_reply",
            "header": {"msg_type": "apply_reply", "date": date},
            "parent_header": {"msg_id": msg_id, "date": parent_date},
            "metadata": {"started": started, "engine_uuid": engine_uuid, "status": "ok",
                         **({"outputs": outputs} if outputs else {})},
            "content": {"status": "ok"}, "buffers": buffers}


def _method(reply_type):
    return reply_type[: -len("_reply")] if reply_type.endswith("_reply") else reply_type


def _apply_carriage_returns(text):
    """Keep only what a terminal would show after ``\\r`` overwrites."""
    if "\r" not in text:
        return text
    lines = text.split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line
                     for line in lines)



"""A pure-Python stand-in for ``ensemble._core.Connection`` (test double).

It plays controller and N engines in this process, honouring the event
tuples of docs/parallel-protocol.md: ``apply_request`` runs the real
``ensemble._engine.apply.run`` with a per-engine ``__main__`` namespace,
``execute_request`` runs code with a minimal cell runner, and outputs are
published on iopub (status busy/idle, stream, execute_input,
execute_result, error). Engines run one at a time (they swap the process-wide
``__main__``, stdout and stderr), each from its own queue, in its own thread.
"""

import ast
import io
import json
import queue
import sys
import threading
import traceback
import types
import uuid
from datetime import datetime, timezone

from ensemble._engine import apply as engine_apply

_RUN_LOCK = threading.Lock()


def _now():
    return datetime.now(timezone.utc).isoformat()


class _Stream(io.TextIOBase):
    def __init__(self, engine, name):
        self.engine, self.name = engine, name

    def write(self, text):
        if text:
            self.engine.publish("stream", {"name": self.name, "text": text})
        return len(text)

    def flush(self):
        pass


class _ThreadRouter(io.TextIOBase):
    """sys.stdout/stderr while an engine runs: the engine thread's writes
    become iopub streams, every other thread's go where they went before."""

    def __init__(self, previous, thread, stream):
        self.previous, self.thread, self.stream = previous, thread, stream

    def write(self, text):
        if threading.current_thread() is self.thread:
            return self.stream.write(text)
        return self.previous.write(text)

    def flush(self):
        if threading.current_thread() is not self.thread:
            self.previous.flush()


class FakeEngine:
    def __init__(self, conn, eid):
        self.conn, self.id = conn, eid
        self.uuid = uuid.uuid4().hex
        self.module = types.ModuleType("__main__")
        self.ns = self.module.__dict__
        self.inbox = queue.Queue()
        self.aborted = set()
        self.alive = True
        self.parent = None
        self.execution_count = 0
        self.completed = []
        self.queued = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def publish(self, msg_type, content, buffers=()):
        if msg_type == "status" and self.parent is not None:
            # as the real core hands statuses over: pre-parsed, without JSON
            self.conn.events.put(("status", self.id, self.parent["msg_id"],
                                  content["execution_state"], _now()))
            return
        self.conn._emit("iopub", self.id, msg_type, content, parent=self.parent,
                        buffers=buffers)

    def _loop(self):
        while True:
            item = self.inbox.get()
            if item is None or not self.alive:
                return
            header, content, buffers = item
            msg_id = header["msg_id"]
            if msg_id in self.queued:
                self.queued.remove(msg_id)
            reply_type = header["msg_type"].replace("_request", "_reply")
            if msg_id in self.aborted:
                self.conn._reply(self.id, reply_type, {"status": "aborted"}, header)
                continue
            with _RUN_LOCK:
                if not self.alive:
                    return
                self._run(header, content, buffers, reply_type)
            self.completed.append(msg_id)

    def _run(self, header, content, buffers, reply_type):
        self.parent = header
        self.publish("status", {"execution_state": "busy"})
        saved = sys.modules["__main__"], sys.stdout, sys.stderr
        sys.modules["__main__"] = self.module
        me = threading.current_thread()
        out = sys.stdout = _ThreadRouter(saved[1], me, _Stream(self, "stdout"))
        err = sys.stderr = _ThreadRouter(saved[2], me, _Stream(self, "stderr"))
        started = _now()
        try:
            if header["msg_type"] == "apply_request":
                reply, md, out = engine_apply.run([memoryview(b) for b in buffers],
                                                  self.id, self.uuid)
                md = dict(md, started=started, completed=_now())
                out = [memoryview(bytes(b)) for b in out]
            else:
                reply, md, out = self._execute(content), {"started": started}, []
        finally:
            sys.modules["__main__"] = saved[0]
            if sys.stdout is out:
                sys.stdout = saved[1]
            if sys.stderr is err:
                sys.stderr = saved[2]
        if self.conn.idle_before_reply:  # as iopub may overtake shell between two sockets
            self.publish("status", {"execution_state": "idle"})
            self.conn._reply(self.id, reply_type, reply, header, md, out)
        else:
            self.conn._reply(self.id, reply_type, reply, header, md, out)
            self.publish("status", {"execution_state": "idle"})
        self.parent = None

    def _execute(self, content):
        code = content["code"]
        self.execution_count += 1
        self.publish("execute_input", {"code": code, "execution_count": self.execution_count})
        try:
            tree = ast.parse(code)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, "<cell>", "exec"), self.ns)
            if last is not None:
                value = eval(compile(last, "<cell>", "eval"), self.ns)
                if value is not None and not content.get("silent"):
                    self.publish("execute_result", {"execution_count": self.execution_count,
                                                    "data": {"text/plain": repr(value)},
                                                    "metadata": {}})
        except Exception as exc:
            err = {"ename": type(exc).__name__, "evalue": str(exc),
                   "traceback": traceback.format_exception(exc)}
            self.publish("error", err)
            return dict(err, status="error", execution_count=self.execution_count,
                        engine_info={"engine_id": self.id, "engine_uuid": self.uuid,
                                     "method": "execute"})
        return {"status": "ok", "execution_count": self.execution_count}


_INTERRUPT = object()


class FakeConnection:
    """``FakeConnection(client_file_json, username="", timeout=10.0, engines=2)``."""

    def __init__(self, client_file_json, username="", timeout=10.0, engines=2):
        self.info = json.loads(client_file_json)
        self.session = uuid.uuid4().hex
        self.events = queue.Queue()
        self.engines = {}
        self.history = []
        self.records = {}  # msg_id -> reply event, for result_request
        self.waiting = {}  # msg_id -> list of waiting clients (here: True)
        self.sent = []
        self.closed = False
        self._pending_by_id = {}
        self.idle_before_reply = False  # engines publish their idle before they reply
        for _ in range(engines):
            self.add_engine(notify=False)

    # -- test controls -------------------------------------------------------

    def add_engine(self, notify=True):
        eid = len(self.engines)
        engine = self.engines[eid] = FakeEngine(self, eid)
        if notify:
            self._emit("iopub", -1, "registration_notification", {"id": eid, "uuid": engine.uuid})
        return engine

    def kill_engine(self, eid):
        """The engine dies: pending requests fail with EngineError, then it
        is unregistered."""
        engine = self.engines.pop(eid)
        engine.alive = False
        engine.inbox.put(None)
        for msg_id, (header, _) in list(self.pending_on(eid).items()):
            self._reply(eid, header["msg_type"].replace("_request", "_reply"), {
                "status": "error", "ename": "EngineError",
                "evalue": "Engine %i died while running task %r" % (eid, msg_id),
                "traceback": [], "engine_info": {"engine_id": eid}}, header)
        self._emit("iopub", -1, "unregistration_notification", {"id": eid, "uuid": engine.uuid})

    def pending_on(self, eid):
        return {m: r for m, r in self._pending.items() if r[1] == eid}

    def lose(self):
        self.events.put(("lost", -1, "", "", "", "", "", []))

    # -- the Connection API ----------------------------------------------------

    def send_request(self, client, msg_type, content, metadata, buffers, engine_id, channel):
        from ensemble.client.sending import file_and_send

        return file_and_send(client, self, msg_type, content, metadata, buffers, engine_id, channel)

    def send(self, msg_type, content_json, metadata_json="{}", buffers=(), target=-1,
             channel="shell", msg_id="", date=""):
        if self.closed:
            raise RuntimeError("closed")
        msg_id = msg_id or uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "session": self.session,
                  "username": "", "date": _now(), "version": "5.3"}
        content = json.loads(content_json)
        if channel == "broadcast":
            # the controller sends it on to every listed engine, as "<msg_id>_<engine id>"
            for eid in json.loads(metadata_json)["targets"]:
                self.send(msg_type, content_json, metadata_json, buffers, eid, "shell",
                          "%s_%d" % (msg_id, eid))
            return msg_id
        self.sent.append((msg_type, target, channel, content))
        if channel == "task":
            # the controller's scheduler, reduced to least-queued among the allowed engines
            # (dependencies, timeouts and retries are tested against the real controller)
            allowed = json.loads(metadata_json).get("targets") or sorted(self.engines)
            target = min((e for e in allowed if e in self.engines),
                         key=lambda e: len(self.engines[e].queued), default=-2)
            channel = "shell"
            if target == -2:
                target = 10**6  # answered below as an unregistered engine
        if target < 0:
            self._controller(header, content)
        elif target not in self.engines:
            self._reply(-1, msg_type.replace("_request", "_reply"), {
                "status": "error", "ename": "EngineError",
                "evalue": "engine %i is not registered" % target, "traceback": []}, header)
        elif channel == "control":
            self._control(self.engines[target], header, content)
        else:
            self.history.append(msg_id)
            self._pending_by_id[msg_id] = (header, target)
            self.engines[target].queued.append(msg_id)
            self.engines[target].inbox.put((header, content, [memoryview(b) for b in buffers]))
        return msg_id

    @property
    def _pending(self):
        return self._pending_by_id

    def next_event(self, timeout):
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if event is _INTERRUPT else event

    def next_events(self, timeout):
        first = self.next_event(timeout)
        if first is None:
            return []
        batch = [first]
        while len(batch) < 256:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            if event is not _INTERRUPT:
                batch.append(event)
        return batch

    def interrupt(self):
        """As the core's: the thread waiting in next_events returns at once."""
        self.events.put(_INTERRUPT)

    def flush(self):
        """As the core's, which may hold requests back; this one sends each at once."""

    def close(self):
        self.closed = True
        for engine in self.engines.values():
            engine.inbox.put(None)

    # -- internals ---------------------------------------------------------------

    def _emit(self, kind, eid, msg_type, content, parent=None, metadata=None, buffers=()):
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "date": _now(),
                  "session": "engine", "username": "", "version": "5.3"}
        event = (kind, eid, msg_type, json.dumps(header), json.dumps(parent or {}),
                 json.dumps(metadata or {}), json.dumps(content), list(buffers))
        self.events.put(event)
        return event

    def _reply(self, eid, msg_type, content, parent, metadata=None, buffers=()):
        metadata = dict(metadata or {})
        if eid >= 0 and eid in self.engines:
            metadata.setdefault("engine_id", eid)
            metadata.setdefault("engine_uuid", self.engines[eid].uuid)
        event = self._emit("shell", eid, msg_type, content, parent, metadata, buffers)
        self._pending.pop(parent["msg_id"], None)
        self.records[parent["msg_id"]] = event

    def _control(self, engine, header, content):
        msg_type = header["msg_type"]
        if msg_type == "abort_request":
            engine.aborted.update(content.get("msg_ids", []))
        self._reply(engine.id, msg_type.replace("_request", "_reply"), {"status": "ok"}, header)

    def _controller(self, header, content):
        msg_type = header["msg_type"]
        reply_type = msg_type.replace("_request", "_reply")
        if msg_type == "connection_request":
            engines = {str(e): {"uuid": eng.uuid, "pid": 0, "hostname": "fakehost",
                                "connection_file": ""} for e, eng in self.engines.items()}
            reply = {"status": "ok", "engines": engines, "cluster_id": ""}
        elif msg_type == "queue_request":
            reply = {"status": "ok", "unassigned": 0}
            for eid, engine in self.engines.items():
                if content.get("targets") is None or eid in content["targets"]:
                    queued, done = list(engine.queued), list(engine.completed)
                    if not content.get("verbose"):
                        queued, done = len(queued), len(done)
                    reply[str(eid)] = {"queue": queued, "completed": done, "tasks": 0}
        elif msg_type == "hub_history_request":
            reply = {"status": "ok", "history": list(self.history)}
        elif msg_type == "purge_request":
            reply = {"status": "ok"}
        elif msg_type == "result_request":
            ids = content["msg_ids"]
            unknown = [m for m in ids if m not in self.history]
            if unknown:
                reply = {"status": "error", "ename": "KeyError",
                         "evalue": "'No such message: %s'" % unknown[0], "traceback": []}
            else:
                completed = [m for m in ids if m in self.records]
                for m in completed:
                    self.events.put(self.records[m])
                reply = {"status": "ok", "completed": completed,
                         "pending": [m for m in ids if m not in self.records]}
        elif msg_type == "shutdown_request":
            reply = {"status": "ok"}
        else:
            reply = {"status": "error", "ename": "ValueError", "evalue": "unknown request"}
        self._reply(-1, reply_type, reply, header)

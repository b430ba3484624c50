"""Client: a connection to a cluster's controller and the bookkeeping of
every request sent through it.

Threads: the user's thread(s) send (``_core.Connection.send`` is
thread-safe) and wait on futures; one EventThread receives. Shared dicts are
only mutated under ``_lock`` for multi-step updates; single dict operations
rely on the GIL.
"""

import itertools
import json
import os
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import Future

from .. import error
from . import files
from .control import ControlMixin
from .taskdb import TaskDbMixin
from .waiting import WaitMixin
from .events import EventThread
from .futures import MessageFuture
from .metadata import Metadata
from .util import execute_content, utcnow


def _make_connection(client_file_json, timeout):
    """The ``_core.Connection`` for a client file's JSON text (tests replace
    this function with a fake)."""
    from ensemble import _core

    return _core.Connection(client_file_json, "", timeout)


class Client(ControlMixin, TaskDbMixin, WaitMixin):
    """A client of an Ensemble cluster, with ipyparallel's Client API.

    ``Client()`` reads ``ipcontroller[-ID]-client.json`` from the profile's
    security directory; ``Client(path)`` / ``Client(url_file=path)`` read that
    file; ``Client(dict)`` uses connection info directly.
    """

    block = False

    def __init__(self, connection_info=None, *, url_file=None, profile=None, profile_dir=None,
                 ipython_dir=None, context=None, debug=False, sshserver=None, sshkey=None,
                 password=None, paramiko=None, timeout=10, cluster_id=None, cluster=None,
                 **extra_args):
        self._closed = True
        connection_info = connection_info or url_file or extra_args.pop("url_or_file", None)
        self.profile = profile or "default"
        self.cluster = cluster
        self.debug = debug
        self._profile_dir = files.profile_dir(profile, profile_dir, ipython_dir)
        self._lock = threading.RLock()
        # msg_ids: a random prefix per client and a counter, as jupyter_client's
        # Session makes them; uuid4 per message costs a GIL release (os.urandom)
        self._msg_id_prefix = uuid.uuid4().hex[:16] + "_"
        self._msg_counter = itertools.count()
        self._futures = {}
        self._reply_waiters = {}
        self.results = {}
        self.metadata = defaultdict(Metadata)
        self.outstanding = set()
        self.history = []
        self._outstanding_dict = defaultdict(set)
        self._engines = {}
        self._ids = []
        self._registration_callbacks = []
        self._lost = False
        text = self._read_connection_info(connection_info, cluster_id or "", timeout)
        self._config = json.loads(text)
        self._conn = _make_connection(text, timeout)
        self.session = getattr(self._conn, "session", "")
        self._closed = False
        self._events = EventThread(self)
        self._events.start()
        try:
            reply = self._send_recv("connection_request", {}, timeout=timeout)
        except Exception:
            self.close()
            raise
        content = reply["content"]
        if content.get("status") != "ok":
            self.close()
            raise error.unwrap_exception(content)
        with self._lock:
            for key, info in content.get("engines", {}).items():
                self._engines[int(key)] = dict(info)
            self._ids = sorted(self._engines)
        self._activate_magics_if_first()

    def _read_connection_info(self, connection_info, cluster_id, timeout):
        if isinstance(connection_info, dict):
            return json.dumps(connection_info)
        if connection_info is None:
            path = files.client_file(os.path.join(self._profile_dir, "security"), cluster_id)
            deadline = time.monotonic() + timeout
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not os.path.exists(path):
                raise OSError("Connection file %r not found.\nYou have attempted to connect "
                              "to a cluster but no controller could be found." % path)
        else:
            path = os.path.expanduser(connection_info)
            if not os.path.exists(path):
                raise OSError("Connection file %r not found. Is a controller running?" % path)
        with open(path) as f:
            return f.read()

    def _activate_magics_if_first(self):
        try:
            from IPython import get_ipython
        except ImportError:
            return
        ip = get_ipython()
        if ip is not None and "px" not in ip.magics_manager.magics["line"]:
            self.activate()

    # -- context, lifetime ---------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def close(self, linger=None):
        """Stop the event thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._events.stopping = True
        if threading.current_thread() is not self._events:
            self._events.join(timeout=2)
        try:
            self._conn.close()
        except Exception:
            pass

    def spin(self):
        """Does nothing: replies are received on a thread."""

    def spin_thread(self, interval=1):
        """Does nothing: replies are received on a thread."""

    def stop_spin_thread(self):
        """Does nothing: replies are received on a thread."""

    # -- engines -------------------------------------------------------------

    @property
    def ids(self):
        """The registered engine ids, sorted (a copy)."""
        return list(self._ids)

    def __len__(self):
        return len(self._ids)

    def __getitem__(self, key):
        if not isinstance(key, (int, slice, tuple, list, range)):
            raise TypeError("key by int/slice/iterable of ints only, not %s" % type(key))
        return self.direct_view(key)

    def __iter__(self):
        for eid in self.ids:
            yield self.direct_view(eid)

    def _build_targets(self, targets):
        """``(uuids, ids)`` for None/'all', an int, a slice or a collection."""
        ids = self._ids
        if not ids:
            raise error.NoEnginesRegistered("Can't build targets without any engines")
        if targets is None:
            targets = list(ids)
        elif isinstance(targets, str):
            if targets.lower() != "all":
                raise TypeError("%r not valid str target, must be 'all'" % targets)
            targets = list(ids)
        elif isinstance(targets, int):
            if targets < 0:
                targets = ids[targets]
            if targets not in ids:
                raise IndexError("No such engine: %i" % targets)
            targets = [targets]
        elif isinstance(targets, slice):
            targets = ids[targets]
        if not isinstance(targets, (tuple, list, range)):
            raise TypeError("targets by int/slice/collection of ints only, not %s"
                            % type(targets))
        targets = list(targets)
        for t in targets:
            if t not in self._engines:
                raise IndexError("No such engine: %r" % (t,))
        return [str(self._engines[t].get("uuid", t)).encode() for t in targets], targets

    def _on_notification(self, msg_type, content):
        """Controller notifications, on the event thread."""
        if msg_type == "registration_notification":
            eid = int(content["id"])
            with self._lock:
                self._engines[eid] = {"uuid": content.get("uuid")}
                self._ids = sorted(self._engines)
            event = dict(content, event="register")
        elif msg_type == "unregistration_notification":
            eid = int(content["id"])
            with self._lock:
                self._engines.pop(eid, None)
                self._ids = sorted(self._engines)
            self._fail_stranded(eid)
            event = dict(content, event="unregister")
        elif msg_type == "shutdown_notification":
            self._on_lost()
            return
        else:
            return
        for callback in list(self._registration_callbacks):
            try:
                callback(event)
            except Exception:
                pass

    def _fail_stranded(self, eid):
        for msg_id in list(self._outstanding_dict.get(eid, ())):
            future = self._futures.get(msg_id)
            if future is not None and not future.done():
                self._finish(future, error.remote_error(
                    "EngineError", "Engine %r died while running task %r" % (eid, msg_id), "",
                    {"engine_id": eid}))
                future.output.done() or future.output.set_result(None)

    def _on_lost(self):
        """The controller went away: fail everything pending (event thread)."""
        self._lost = True
        lost = error.remote_error("EngineError", "lost the connection to the controller; "
                                  "this result will never arrive", "", {})
        for waiter in list(self._reply_waiters.values()):
            if not waiter.done():
                waiter.set_exception(error.EngineError("lost the connection to the controller"))
        self._reply_waiters.clear()
        for future in list(self._futures.values()):
            if not future.done():
                self._finish(future, lost)
            if not future.output.done():
                future.output.set_result(None)
        for callback in list(self._registration_callbacks):
            try:
                callback({"event": "lost"})
            except Exception:
                pass

    # -- sending -------------------------------------------------------------

    def _check_open(self):
        if self._closed:
            raise RuntimeError("Client cannot be used after its sockets have been closed")
        if self._lost:
            raise error.EngineError("the connection to the controller was lost")

    def _register(self, msg_id, engine_id, submitted):
        """A MessageFuture for a request about to be sent (call with _lock held)."""
        # engine_id stays None until the reply comes (as in ipyparallel); the future knows it
        md = Metadata(msg_id=msg_id, submitted=submitted,
                      engine_uuid=self._engines.get(engine_id, {}).get("uuid"))
        future = MessageFuture(msg_id, md, engine_id)
        self.metadata[msg_id] = md
        self._futures[msg_id] = future
        self.outstanding.add(msg_id)
        self._outstanding_dict[engine_id].add(msg_id)
        self.history.append(msg_id)
        return future

    def _unregister(self, msg_ids):
        with self._lock:
            for msg_id in msg_ids:
                self._discard(msg_id)
                self.history.remove(msg_id)

    def _send_request(self, msg_type, content, engine_id, buffers=(), channel="shell",
                      fname=None, metadata=None):
        """Send a request to one engine; returns its MessageFuture."""
        self._check_open()
        msg_id = self._new_msg_id()
        with self._lock:
            future = self._register(msg_id, engine_id, utcnow())
        try:
            # a task (channel "task") has no engine until the controller's scheduler picks one
            self._conn.send(msg_type, json.dumps(content), json.dumps(metadata or {}),
                            list(buffers), -1 if engine_id is None else engine_id, channel, msg_id)
        except Exception:
            self._unregister([msg_id])
            raise
        return future

    def send_broadcast(self, msg_type, content, engine_ids, buffers=(), metadata=None):
        """One request for several engines: the controller sends it on to each, under
        msg_id ``<msg_id>_<engine id>``, so it is serialized and sent once. Returns the
        engines' MessageFutures, in order."""
        self._check_open()
        msg_id = self._new_msg_id()
        sub_ids = ["%s_%d" % (msg_id, eid) for eid in engine_ids]
        now = utcnow()
        with self._lock:
            futures = [self._register(sub, eid, now) for sub, eid in zip(sub_ids, engine_ids)]
        metadata = dict(metadata or {}, targets=list(engine_ids), is_broadcast=True)
        try:
            self._conn.send(msg_type, json.dumps(content), json.dumps(metadata), list(buffers),
                            -1, "broadcast", msg_id)
        except Exception:
            self._unregister(sub_ids)
            raise
        return futures

    def _new_msg_id(self):
        return self._msg_id_prefix + str(next(self._msg_counter))

    def _finish(self, future, result):
        """Record ``result`` for ``future`` and resolve it."""
        msg_id = future.msg_id
        with self._lock:
            self.results[msg_id] = result
            self.outstanding.discard(msg_id)
            self._outstanding_dict[future.engine_id].discard(msg_id)
            self._outstanding_dict[None].discard(msg_id)  # a task, filed before it had an engine
        if not future.done():
            future.set_result(result)

    def _discard(self, msg_id):
        future = self._futures.pop(msg_id, None)
        self.metadata.pop(msg_id, None)
        self.results.pop(msg_id, None)
        self.outstanding.discard(msg_id)
        if future is not None:
            self._outstanding_dict[future.engine_id].discard(msg_id)
            self._outstanding_dict[None].discard(msg_id)

    def _send_recv(self, msg_type, content=None, target=-1, channel="shell", timeout=30):
        """Send a request and return its reply message (a dict)."""
        waiter = self._send_waited(msg_type, content, target, channel)
        try:
            return waiter.result(timeout)
        except TimeoutError:
            raise error.TimeoutError("no %s reply within %s s"
                                     % (msg_type.replace("_request", ""), timeout)) from None

    def _send_waited(self, msg_type, content=None, target=-1, channel="shell"):
        self._check_open()
        msg_id = self._new_msg_id()
        waiter = Future()
        self._reply_waiters[msg_id] = waiter
        try:
            self._conn.send(msg_type, json.dumps(content or {}), "{}", [], target, channel,
                            msg_id)
        except Exception:
            self._reply_waiters.pop(msg_id, None)
            raise
        return waiter

    def send_apply_request(self, buffers, engine_id, metadata=None):
        """Send one apply_request (``buffers`` from ``serialize.pack_apply``)."""
        return self._send_request("apply_request", {}, engine_id, buffers=buffers,
                                  metadata=dict(metadata or {}, target=engine_id))

    def send_task(self, buffers, metadata):
        """Send one apply_request to the controller's scheduler, which picks the
        engine; ``metadata`` holds ipyparallel's flags (targets, after, follow,
        timeout, retries)."""
        return self._send_request("apply_request", {}, None, buffers=buffers, channel="task",
                                  metadata=metadata)

    def send_execute_request(self, code, engine_id, silent=True):
        return self._send_request("execute_request", execute_content(code, silent), engine_id)

    # -- views -----------------------------------------------------------------

    def direct_view(self, targets="all", **kwargs):
        """A DirectView; 'all' means whichever engines exist at each call."""
        from .view import DirectView

        single = isinstance(targets, int)
        if targets != "all":
            targets = self._build_targets(targets)[1]
            if single:
                targets = targets[0]
        return DirectView(client=self, targets=targets, **kwargs)

    def load_balanced_view(self, targets=None, **kwargs):
        from .lbview import LoadBalancedView

        if targets == "all":
            targets = None
        if targets is not None:
            targets = self._build_targets(targets)[1]
        return LoadBalancedView(client=self, targets=targets, **kwargs)

    def broadcast_view(self, targets="all", is_coalescing=False, **kwargs):
        from .view import BroadcastView

        view = BroadcastView(client=self, targets=self._build_targets(targets)[1], **kwargs)
        view.is_coalescing = is_coalescing
        return view

    def executor(self, targets=None):
        return self.load_balanced_view(targets).executor

    def activate(self, targets="all", suffix=""):
        """A blocking DirectView registered for the %px magics."""
        view = self.direct_view(targets)
        view.block = True
        view.activate(suffix)
        return view

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
import warnings
from collections import defaultdict

from .. import error
from . import files
from .control import ControlMixin
from .dask import DaskMixin
from .engine_roster import EngineRosterMixin
from .sending import SendingMixin
from .taskdb import TaskDbMixin
from .waiting import WaitMixin
from .events import EventThread
from .futures import msg_id_list, msg_id_set
from .metadata import Metadata
from .util import is_local_ip, running_ipython, warn_if_controller_elsewhere


def _make_connection(client_file_json, timeout):
    """The ``_core.Connection`` for a client file's JSON text (tests replace
    this function with a fake)."""
    from ensemble import _core

    return _core.Connection(client_file_json, "", timeout)


class _NoSuchEngine(IndexError, KeyError):
    """An id in a list of targets that is no engine's: ipyparallel raises KeyError there (its
    table lookup), and IndexError for a single id; code may catch either."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class SessionInfo:
    """``rc.session``: what code written for ipyparallel reads of it (a jupyter_client
    Session there). Messages are signed, and replays refused, in the client core, so
    ``digest_history`` stays empty. ``str()`` is the session id."""

    def __init__(self, session_id, config):
        self.session = session_id
        self.bsession = session_id.encode()
        self.key = (config.get("key") or "").encode()
        self.signature_scheme = config.get("signature_scheme", "hmac-sha256")
        self.username = os.environ.get("USER", "username")
        self.digest_history = set()

    def __str__(self):
        return self.session

    def __repr__(self):
        return "<SessionInfo %s>" % self.session


class Client(EngineRosterMixin, SendingMixin, ControlMixin, DaskMixin, TaskDbMixin, WaitMixin):
    """A client of an Ensemble cluster, with ipyparallel's Client API.

    ``Client()`` reads ``ipcontroller[-ID]-client.json`` from the profile's
    security directory; ``Client(path)`` / ``Client(url_file=path)`` read that
    file; ``Client(dict)`` uses connection info directly.
    """

    block = False

    def __new__(cls, *args, **kwargs):
        # Defined so that patching Client.__new__ and restoring it (mock.patch.object, as
        # ipyparallel's own joblib test does) leaves a Client that still takes arguments.
        return super().__new__(cls)

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
        self._iopub_lock = threading.Lock()  # see EventThread.on_iopub and stream_output
        # msg_ids: a random prefix per client and a counter, as jupyter_client's
        # Session makes them; uuid4 per message costs a GIL release (os.urandom)
        self._msg_id_prefix = uuid.uuid4().hex[:16] + "_"
        self._msg_counter = itertools.count()
        self._last_metadata = None  # (key, JSON) of the last request's metadata
        self._futures = {}
        self._reply_waiters = {}
        self.results = defaultdict(dict)  # as ipyparallel's: rc.results[unknown] is {}
        self.metadata = defaultdict(Metadata)
        self.outstanding = msg_id_set()
        self.history = msg_id_list()
        # as in ipyparallel: msg_ids outstanding per engine uuid (None: tasks not yet assigned)
        self._outstanding_dict = defaultdict(msg_id_set)
        self._engines = {}  # engine id -> its uuid, as in ipyparallel
        self._engine_info = {}  # engine id -> what the controller said of it (uuid, pid, hostname, ...)
        self._direct = {}  # engine id -> the endpoint its requests go to directly
        self._last_direct_replies = {}  # engine id -> msg_id of the last reply from it directly
        self._last_submit = 0.0  # monotonic: the event thread yields to a thread submitting (turns.py)
        self._ids = []
        self._registration_callbacks = []
        self._lost = False
        text = self._read_connection_info(connection_info, cluster_id or "", timeout)
        self._config = json.loads(text)
        # is_local_ip looked up at each call: tests (ipyparallel's too) patch it in this module
        warn_if_controller_elsewhere(self._config, lambda ip: is_local_ip(ip))
        self._conn = _make_connection(text, timeout)
        self._limit_direct_engines()
        self.session = SessionInfo(getattr(self._conn, "session", ""), self._config)
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
        engines = {int(key): dict(info) for key, info in content.get("engines", {}).items()}
        for eid, info in engines.items():
            self._connect_direct(eid, info)
        with self._lock:
            for eid, info in engines.items():
                self._add_engine(eid, info)
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
        ip = running_ipython()
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
        try:
            self._close_dask_scheduler()
        except Exception:  # closing goes on: the scheduler's thread is a daemon
            pass
        self._events.stopping = True
        if threading.current_thread() is not self._events:
            self._events.join(timeout=2)
        try:
            self._conn.close()
        except Exception:
            pass
        self._track_unresolved()

    # Deprecated in ipyparallel 7, which warns as these do: replies are received on a thread.
    def spin(self):
        """Does nothing (deprecated)."""
        warnings.warn("Client.spin is deprecated: replies are received on a thread", DeprecationWarning,
                      stacklevel=2)

    def spin_thread(self, interval=1):
        """Does nothing (deprecated)."""
        warnings.warn("Client.spin_thread is deprecated: replies are received on a thread",
                      DeprecationWarning, stacklevel=2)

    def stop_spin_thread(self):
        """Does nothing (deprecated)."""
        warnings.warn("Client.stop_spin_thread is deprecated: replies are received on a thread",
                      DeprecationWarning, stacklevel=2)

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
        if self._closed:  # its engine list stopped changing when it closed: not "no engines"
            raise RuntimeError("Client cannot be used after its sockets have been closed")
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
                raise _NoSuchEngine("No such engine: %r" % (t,))
        return [self._engines[t].encode() for t in targets], targets

    def _on_lost(self):
        """The controller went away: fail everything pending (the reading thread)."""
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
            self._output_complete(future)
        for callback in list(self._registration_callbacks):
            try:
                callback({"event": "lost"})
            except Exception:
                pass

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
        """A BroadcastView of ``targets``; ``kwargs`` are its flags (``block``, ...).
        ``coalescing`` is ``is_coalescing``, as ipyparallel's own example notebooks
        spell it (ipyparallel 7.1 accepts any keyword and ignores it)."""
        from .view import BroadcastView

        is_coalescing = kwargs.pop("coalescing", is_coalescing)
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

"""Cluster: start and stop a controller and engines from Python.

Processes are started by the ``ensemble`` program (see
``files.ensemble_executable``):
``ensemble cluster start -n N --cluster-id ID [--profile P] [--profile-dir D]
[--ip IP] --daemonize`` returns once the controller's client file exists;
``ensemble cluster stop --cluster-id ID [--profile-dir D]`` stops them.

Every coroutine method ``m`` also exists as ``m_sync``. The controller and
its engines are started together (``start_cluster``); ``start_engines`` on a running
cluster adds engines with ``ensemble cluster engines -n N``.
"""

import asyncio
import atexit
import json
import logging
import os
import random
import string
import subprocess
import time
import weakref

from .._async import AsyncFirst
from . import files
from .cluster_config import cluster_settings, default_log
from .cluster_engine_control import EngineControlMixin
from .cluster_file import ClusterFileMixin, from_launcher_layout, in_launcher_layout, to_launcher_layout
from .controller_settings import controller_options
from .launchers import LocalControllerLauncher, launcher_class_for
from .processes import end_processes as _end_engines, ours as _ours

_running = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit():
    for cluster in list(_running):
        if cluster.shutdown_atexit:
            try:
                cluster._stop_now()
            except Exception:
                pass


class Cluster(AsyncFirst, EngineControlMixin, ClusterFileMixin):
    """A controller and ``n`` engines on this machine.

    Keyword arguments: ``n``, ``cluster_id`` (default: a fresh random id),
    ``profile``, ``profile_dir``, ``controller_ip``, ``engine_timeout``
    (seconds to wait for engines in start_and_connect), ``shutdown_atexit``,
    ``config`` (a traitlets Config whose ``Cluster`` section sets any of these), ``log``,
    ``log_level``, ``load_profile`` (default True: the profile's ``ipcluster_config.py`` and
    ``.json`` set them too; see cluster_config.py for which wins), and ipyparallel's
    ``controller_args`` (the ones that set what Ensemble's controller has: scheme, hwm,
    address, heartbeat period, database; see controller_settings.py) and ``engine_args``
    (kept; they mean nothing to Ensemble's engines).
    Ensemble's own ``nice`` (0 to 19) is how far the daemons stand back from the user's
    session when both want the CPUs (``ensemble cluster start --nice``; default
    ``$ENSEMBLE_CLUSTER_NICE``, else 3).
    """

    def __init__(self, *, n=None, cluster_id=None, profile="", profile_dir="",
                 controller_ip=None, engine_timeout=None, shutdown_atexit=None, cluster_file="",
                 config=None, log=None, log_level=None, load_profile=True,
                 controller_args=None, engine_args=None, engine_launcher_class=None,
                 controller_launcher_class=None, parent=None, delay=1.0, controller_location="",
                 nice=None, **ignored):
        self.profile = profile or ""
        self.profile_dir = files.profile_dir(self.profile or None, profile_dir or None)
        self._config = config
        settings = cluster_settings(self.profile_dir, config, dict(
            n=n, cluster_id=cluster_id, controller_ip=controller_ip, engine_timeout=engine_timeout,
            shutdown_atexit=shutdown_atexit, log_level=log_level, controller_args=controller_args,
            engine_args=engine_args, engine_launcher_class=engine_launcher_class,
            controller_launcher_class=controller_launcher_class, nice=nice), load_profile)
        n = settings.get("n")
        self.n = n if n is not None else (os.cpu_count() or 1)
        cluster_id = settings.get("cluster_id")
        if cluster_id is None:
            suffix = "".join(random.choice(string.ascii_lowercase + string.digits)
                             for _ in range(4))
            cluster_id = "%i-%s" % (time.time(), suffix)
        self.cluster_id = cluster_id
        self.controller_ip = settings.get("controller_ip") or ""
        self.engine_timeout = settings.get("engine_timeout", 60)
        self.shutdown_atexit = settings.get("shutdown_atexit", True)
        self.controller_args = list(settings.get("controller_args") or [])
        self.engine_args = list(settings.get("engine_args") or [])
        # Ensemble's own: how far the daemons stand back from the user's session
        # (``ensemble cluster start --nice``); None: $ENSEMBLE_CLUSTER_NICE, else 3
        self.nice = settings.get("nice")
        self.log = log or default_log(parent, "%s.%s" % (__name__, self.cluster_id))
        self.log_level = settings.get("log_level") or logging.INFO
        if settings.get("log_level") is not None:
            self.log.setLevel(settings["log_level"])
        self.load_profile = load_profile
        # ipyparallel's, kept as given: engines here connect as soon as the controller is
        # up (no delay needed), and the controller writes its own host name as its location
        self.delay = float(delay)
        self.controller_location = controller_location
        self.engine_launcher_class = launcher_class_for(
            settings.get("engine_launcher_class"), "engine", self.log)
        self.controller_launcher_class = launcher_class_for(
            settings.get("controller_launcher_class"), "controller", self.log)
        self.cluster_file = cluster_file or files.cluster_file(self.security_dir,
                                                               self.cluster_id)
        self.controller = None
        self.engines = {}
        self._context_client = None

    @property
    def config(self):
        """The traitlets Config this cluster was given (an empty one if none was)."""
        if self._config is None:
            from traitlets.config import Config

            self._config = Config()
        return self._config

    @property
    def security_dir(self):
        return os.path.join(self.profile_dir, "security")

    @property
    def client_file(self):
        return files.client_file(self.security_dir, self.cluster_id)

    def __repr__(self):
        fields = ["cluster_id=%r" % self.cluster_id, "profile_dir=%r" % self.profile_dir]
        if self.controller:
            fields.append("controller=<running>")
        if self.engines:
            fields.append("engine_sets=%r" % list(self.engines))
        return "<Cluster(%s)>" % ", ".join(fields)

    # -- files -------------------------------------------------------------

    def to_dict(self):
        """The cluster in ipyparallel's to_dict() layout (cluster_file.to_launcher_layout);
        ``ipcluster list -o json`` prints it."""
        return to_launcher_layout(self)

    @classmethod
    def from_dict(cls, d, **kwargs):
        """A Cluster for one described by ``to_dict()`` (ours or ipyparallel's) or by its file.
        It does not stop the cluster when this program exits (``shutdown_atexit=False``):
        whoever started it does."""
        kwargs.setdefault("shutdown_atexit", False)
        if in_launcher_layout(d):
            d = from_launcher_layout(d)
        if "cluster" in d:
            info = dict(d["cluster"], **kwargs)
            self = cls(**info)
            self.controller = self._controller_launcher(d.get("controller"))
            self.engines = {name: self._engine_set_launcher(fields)
                            for name, fields in (d.get("engines") or {}).items()}
            return self
        # the file `ensemble cluster start` writes (docs/parallel-protocol.md)
        kwargs.setdefault("cluster_id", d.get("cluster_id", ""))
        kwargs.setdefault("n", d.get("n"))
        if d.get("mpiexec"):  # its engines were started with mpiexec
            kwargs.setdefault("engine_launcher_class", "MPI")
        self = cls(**kwargs)
        self._load_state(d)
        return self

    @classmethod
    def from_file(cls, cluster_file=None, *, profile=None, profile_dir=None, cluster_id=None,
                  **kwargs):
        """A Cluster for the running cluster described by ``cluster[-ID].json`` (the given
        file, whose id it takes, or the file of ``cluster_id`` in the profile)."""
        if cluster_file is None:
            cluster_id = cluster_id or ""
            security = os.path.join(files.profile_dir(profile, profile_dir), "security")
            cluster_file = files.cluster_file(security, cluster_id)
        with open(cluster_file) as f:
            d = json.load(f)
        if profile is not None:
            kwargs["profile"] = profile
        if profile_dir is not None:
            kwargs["profile_dir"] = profile_dir
        elif profile is None:  # the profile the file is in: PROFILE_DIR/security/cluster*.json
            kwargs["profile_dir"] = os.path.dirname(os.path.dirname(os.path.abspath(cluster_file)))
        kwargs.setdefault("cluster_file", cluster_file)
        if cluster_id is not None:
            kwargs.setdefault("cluster_id", cluster_id)
        return cls.from_dict(d, **kwargs)

    def _load_state(self, d):
        self.controller = self._controller_launcher(
            {"pid": d.get("controller_pid"), "client_file": d.get("client_file"),
             "engine_file": d.get("engine_file")})
        pids = d.get("engine_pids") or []
        # an mpiexec's one pid stands for its n engines
        n = len(pids) + sum(max(int(m.get("n", 1)) - 1, 0) for m in d.get("mpiexec") or ())
        self.engines = {"0": self._engine_set_launcher({"n": n, "pids": pids})} if pids else {}

    def _engine_options(self):
        """``ensemble cluster start|engines`` options of the engine launcher (MPI's)."""
        options = getattr(self.engine_launcher_class, "command_options", None)
        return options(self.config) if options else []

    # ipyparallel's launcher objects: dicts of what to_dict() saves, with their attributes
    def _controller_launcher(self, fields):
        return None if fields is None else LocalControllerLauncher(fields, self)

    def _engine_set_launcher(self, fields):
        return self.engine_launcher_class(fields, self)

    # -- processes -----------------------------------------------------------

    def _cli(self, *args):
        cmd = [files.ensemble_executable(), "cluster", *args, "--cluster-id", self.cluster_id]
        if self.profile_dir:
            cmd += ["--profile-dir", self.profile_dir]
        return cmd

    async def _run(self, cmd):
        proc = await asyncio.to_thread(subprocess.run, cmd, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise RuntimeError("%s failed (exit %i): %s"
                               % (" ".join(cmd), proc.returncode, proc.stderr.strip()))
        return proc

    async def start_cluster(self, n=None):
        """Start the controller and ``n`` engines (default ``self.n``);
        returns self."""
        if self.controller:
            if n:
                await self.start_engines(n)
            return self
        n = self.n if n is None else n
        args = ["start", "-n", str(n)]
        if self.profile:
            args += ["--profile", self.profile]
        # scheme, hwm, address, heartbeat, database: from where ipyparallel's controller takes them
        options = controller_options(self.profile_dir, self._config, self.controller_args, self.log,
                                     self.load_profile)
        if self.controller_ip and "--ip" not in options:  # controller_args win, as in ipyparallel
            args += ["--ip", self.controller_ip]
        if self.nice is not None:
            args += ["--nice", str(int(self.nice))]
        await self._run(self._cli(*args, *options, *self._engine_options(), "--daemonize"))
        self.n = n
        try:
            with open(self.cluster_file) as f:
                self._load_state(json.load(f))
        except OSError:
            self.controller = self._controller_launcher({"client_file": self.client_file})
            self.engines = {"0": self._engine_set_launcher({"n": n})} if n else {}
        _running.add(self)
        return self

    async def start_controller(self, **kwargs):
        """Start the controller with no engines. RuntimeError if it already runs, as in
        ipyparallel (``start_cluster`` on a running cluster adds engines instead)."""
        if self.controller is not None:
            raise RuntimeError("controller is already running. Call stop_controller() first.")
        return await self.start_cluster(n=0)

    async def start_engines(self, n=None, engine_set_id=None, **kwargs):
        """Start ``n`` engines (default ``self.n``); on a running cluster they
        join it (``ensemble cluster engines -n N``). Returns the engine set's id."""
        if not self.controller:
            await self.start_cluster(n)
            return "0"
        n = self.n if n is None else n
        known = {pid for engine_set in self.engines.values() for pid in engine_set.pids}
        await self._run(self._cli("engines", "-n", str(n), *self._engine_options()))
        with open(self.cluster_file) as f:
            pids = json.load(f).get("engine_pids") or []
        numbered = [int(key) for key in self.engines if key.isdigit()]
        new_set = engine_set_id or str(max(numbered, default=-1) + 1)
        # the file also lists engines stopped earlier: only live ones are new
        self.engines[new_set] = self._engine_set_launcher(
            {"n": n, "pids": [pid for pid in pids if pid not in known and _ours(pid)]})
        return new_set

    async def connect_client(self, **client_kwargs):
        """A Client connected to this cluster."""
        from .client import Client

        return Client(self.client_file, cluster=self, **client_kwargs)

    async def start_and_connect(self, n=None):
        """start_cluster(n), connect a client and wait for the engines."""
        n = self.n if n is None else n
        await self.start_cluster(n)
        client = await self.connect_client()
        if n:
            await asyncio.wrap_future(client.wait_for_engines(
                n, block=False, timeout=self.engine_timeout, interactive=False))
        return client

    def _stop_now(self):
        if self.controller or self.engines:
            subprocess.run(self._cli("stop"), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, check=False)
        self._end_what_is_left()

    async def stop_cluster(self):
        """Stop the engines and the controller. A cluster another Cluster object (or
        ``ensemble cluster stop``) stopped already is not an error: its file is gone."""
        try:
            if (self.controller or self.engines) and os.path.exists(self.cluster_file):
                await self._run(self._cli("stop"))
        finally:
            await asyncio.to_thread(self._end_what_is_left)

    def _end_what_is_left(self):
        """Ends, by the pids this object recorded, whatever ``cluster stop`` could not reach.
        It finds the cluster through its file, and a program that deleted the profile
        directory first (a ``TemporaryDirectory`` left by an exception, then this object's
        stop at exit) left the controller and its engines running for good."""
        pids = [pid for engine_set in self.engines.values() for pid in engine_set.pids]
        if self.controller and self.controller.pid:
            pids.append(self.controller.pid)
        _end_engines(pids)
        self.controller = None
        self.engines = {}
        _running.discard(self)

    async def stop_controller(self):
        await self.stop_cluster()

    def _engine_set_ids(self, engine_set_id):
        """The ids of the engine sets a call names: every set for None; KeyError for a set
        this cluster does not have."""
        if engine_set_id is None:
            return list(self.engines)
        if engine_set_id not in self.engines:
            raise KeyError("no engine set %r in %s" % (engine_set_id, list(self.engines)))
        return [engine_set_id]

    async def stop_engines(self, engine_set_id=None):
        """Stop one engine set (default: every engine); the controller keeps running and the
        engines leave its ``ids``."""
        if self.controller is None:
            self.engines = {}
            return
        sets = self._engine_set_ids(engine_set_id)
        pids = [pid for name in sets for pid in self.engines[name].pids]
        await asyncio.to_thread(_end_engines, pids)
        for name in sets:
            del self.engines[name]

    async def signal_engines(self, signum, engine_set_id=None):
        """Sends ``signum`` (a number or a name such as ``"SIGINT"``) to the engines of one
        engine set (default: every set); KeyError for a set this cluster does not have."""
        import signal as signal_module

        if isinstance(signum, str):
            signum = getattr(signal_module, signum)
        for name in self._engine_set_ids(engine_set_id):
            for pid in self.engines[name].pids:
                if _ours(pid):  # a pid of an engine that is gone may be another program's now
                    os.kill(pid, signum)

    async def restart_engines(self, engine_set_id=None):
        """Stop one engine set (default: each) and start as many engines under its id."""
        sets = list(self.engines) if engine_set_id is None else [engine_set_id]
        for name in sets:
            engine_set = self.engines[name]
            n = engine_set.n or len(engine_set.pids)
            await self.stop_engines(name)
            await self.start_engines(n, engine_set_id=name)

    # -- context managers ----------------------------------------------------

    def __enter__(self):
        self._context_client = self.start_and_connect_sync()
        return self._context_client

    def __exit__(self, *exc):
        if self._context_client is not None:
            self._context_client.close()
            self._context_client = None
        self.stop_cluster_sync()

    async def __aenter__(self):
        self._context_client = await self.start_and_connect()
        return self._context_client

    async def __aexit__(self, *exc):
        if self._context_client is not None:
            self._context_client.close()
            self._context_client = None
        await self.stop_cluster()


__all__ = ["Cluster"]

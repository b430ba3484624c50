"""What ``Cluster.controller`` and ``Cluster.engines[id]`` hold: the controller and each
engine set as ipyparallel's launcher objects show them (``pid``/``pids``, ``process``/
``processes`` as ``psutil.Process``, ``n``, ``config``, ``running``), and also plain dicts
of what ``Cluster.to_dict()`` saves, so a cluster's description stays JSON.

Ensemble starts both through ``ensemble cluster`` on this machine, so there is one kind of
each: ``find_launcher_class("Local", "engine")`` (or ``"controller"``) names it."""

import weakref


def _process(pid):
    import psutil  # only for those who ask for a process object

    return psutil.Process(pid)


def _gone():
    import psutil

    return psutil.NoSuchProcess


class _Launcher(dict):
    """A dict of the saved fields, with the launcher's attributes on top."""

    def __init__(self, fields=None, cluster=None):
        super().__init__(fields or {})
        # not saved; weak, so a dropped Cluster is freed at once (it stops its processes)
        self._cluster = weakref.ref(cluster) if cluster is not None else None

    @property
    def config(self):
        """The Cluster's traitlets Config (``cluster.controller.config is cluster.config``)."""
        cluster = self._cluster() if self._cluster is not None else None
        return cluster.config if cluster is not None else None

    def __repr__(self):
        return "<%s(%s)>" % (type(self).__name__, dict.__repr__(self))


class LocalControllerLauncher(_Launcher):
    @property
    def pid(self):
        return self.get("pid")

    _process_object = None

    @property
    def process(self):
        """The controller's ``psutil.Process``, the same object each time, so that after
        the controller stops it says ``is_running() == False``; None if its pid is unknown.
        psutil.NoSuchProcess if the controller was gone before it was first asked for."""
        if self._process_object is None and self.pid:
            self._process_object = _process(self.pid)
        return self._process_object

    @property
    def running(self):
        try:
            process = self.process
        except _gone():
            return False
        return process is not None and process.is_running()


class LocalEngineSetLauncher(_Launcher):
    @property
    def n(self):
        return self.get("n", 0)

    @property
    def pids(self):
        return list(self.get("pids", ()))

    @property
    def processes(self):
        """The engines' ``psutil.Process`` objects, of those still running."""
        found = []
        for pid in self.pids:
            try:
                found.append(_process(pid))
            except _gone():
                pass
        return found

    @property
    def running(self):
        return any(process.is_running() for process in self.processes)


_KINDS = {
    "controller": {"local": LocalControllerLauncher},
    "engine": {"local": LocalEngineSetLauncher},
}


def find_launcher_class(name, kind):
    """The launcher class for ``name`` (``"Local"``, or a class name with or without
    its module) and ``kind`` (``"engine"`` or ``"controller"``). KeyError for a launcher
    Ensemble does not have (MPI, SSH, batch systems)."""
    if kind not in _KINDS:
        raise ValueError("kind must be 'engine' or 'controller', not %r" % (kind,))
    if isinstance(name, type):
        name = name.__name__
    short = str(name).rsplit(".", 1)[-1].lower()
    for suffix in ("controllerlauncher", "enginesetlauncher", "launcher"):
        if short.endswith(suffix) and short != suffix:
            short = short[: -len(suffix)]
            break
    return _KINDS[kind][short]


def abbreviate_launcher_class(cls):
    """``"Local"`` for Ensemble's launchers, as ipyparallel abbreviates its own."""
    for kinds in _KINDS.values():
        for short, known in kinds.items():
            if cls is known:
                return short.capitalize()
    return "%s.%s" % (cls.__module__, cls.__name__)


def launcher_class_for(name, kind, log):
    """The launcher class ``name`` stands for (default ``Local``). Ensemble starts engines
    and controllers on this machine only: any other launcher (MPI, SSH, a batch system) is
    reported and the local one used."""
    if name is None:
        return find_launcher_class("Local", kind)
    try:
        return find_launcher_class(name, kind)
    except KeyError:
        log.warning("Ensemble starts %ss on this machine only: %s_launcher_class=%r is ignored",
                    kind, kind, name)
        return find_launcher_class("Local", kind)

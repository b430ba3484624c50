"""What ``Cluster.controller`` and ``Cluster.engines[id]`` hold: the controller and each
engine set as ipyparallel's launcher objects show them (``pid``/``pids``, ``process``/
``processes`` as ``psutil.Process``, ``n``, ``config``, ``running``), and also plain dicts
of what ``Cluster.to_dict()`` saves, so a cluster's description stays JSON.

Ensemble starts both through ``ensemble cluster`` on this machine: the controller one way
(``find_launcher_class("Local", "controller")``), engines directly (``"Local"``) or with
mpiexec (``"MPI"``)."""

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


class MPIEngineSetLauncher(LocalEngineSetLauncher):
    """Engines started by one ``mpiexec -n N ensemble engine --mpi`` (as ipyparallel's MPI
    launcher): each takes its MPI rank as engine id and has mpi4py set up. Its one pid is
    mpiexec's, through which signals and stops reach the engines. ``mpi_cmd`` and
    ``mpi_args`` come from the Cluster's config (``c.MPILauncher.mpi_args = [...]``, or
    ``MPIEngineSetLauncher``), as ipyparallel's."""

    @staticmethod
    def command_options(config):
        """``ensemble cluster start|engines`` options for this launcher and ``config``."""
        settings = {}
        for section in ("MPILauncher", "MPIEngineSetLauncher"):  # the more specific wins
            try:
                found = config[section] if section in config else {}
                settings.update({k: found[k] for k in ("mpi_cmd", "mpi_args") if k in found})
            except TypeError:  # not a Config
                pass
        command = list(settings.get("mpi_cmd") or ["mpiexec"])
        options = ["--mpi", "--mpiexec", command[0]]
        for arg in command[1:] + list(settings.get("mpi_args") or []):
            options.append("--mpi-arg=%s" % arg)
        return options


_KINDS = {
    "controller": {"local": LocalControllerLauncher},
    # "mpiexec": ipyparallel's older name for it (MPIExecEngineSetLauncher)
    "engine": {"local": LocalEngineSetLauncher, "mpi": MPIEngineSetLauncher,
               "mpiexec": MPIEngineSetLauncher},
}


def find_launcher_class(name, kind):
    """The launcher class for ``name`` (``"Local"``, ``"MPI"`` for engines, or a class name
    with or without its module) and ``kind`` (``"engine"`` or ``"controller"``). KeyError for
    a launcher Ensemble does not have (SSH, batch systems)."""
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
    """``"Local"`` or ``"MPI"`` for Ensemble's launchers, as ipyparallel abbreviates its own."""
    for kinds in _KINDS.values():
        if cls in kinds.values():
            name = cls.__name__
            for suffix in ("ControllerLauncher", "EngineSetLauncher"):
                if name.endswith(suffix):
                    return name[: -len(suffix)]
    return "%s.%s" % (cls.__module__, cls.__name__)


def launcher_class_for(name, kind, log):
    """The launcher class ``name`` stands for (default ``Local``). Ensemble starts engines
    and controllers on this machine only, engines directly or with mpiexec (``MPI``): any
    other launcher (SSH, a batch system) is reported and the local one used."""
    if name is None:
        return find_launcher_class("Local", kind)
    try:
        return find_launcher_class(name, kind)
    except KeyError:
        log.warning("Ensemble starts %ss on this machine only: %s_launcher_class=%r is ignored",
                    kind, kind, name)
        return find_launcher_class("Local", kind)

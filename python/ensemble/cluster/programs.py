"""``python -m ensemble.engine`` and ``python -m ensemble.controller``: ipyparallel's
``ipengine`` and ``ipcontroller`` command lines, run as ``ensemble engine`` and
``ensemble controller`` (this process becomes that program).

What Ensemble's programs have is passed on: the profile, cluster id and, for the engine,
the connection file and timeout; for the controller, what controller_settings.py reads
(``--ip``, ``--ping``, ``--scheme``, ``--hwm``, ``--nodb``, ``--TaskScheduler.hwm=1``, the
profile's ``ipcontroller_config.py``) and ``--restore``/``--reuse``. The rest is reported
and ignored, so a launch script written for ipyparallel starts an engine or a controller
rather than failing on an option Ensemble has no use for.
"""

import os
import sys

from .. import __version__
from ..client import files
from ..client.controller_settings import controller_options
from ._argv import UsageError, parse, stderr_logger

_COMMON_ALIASES = {"profile", "profile-dir", "ipython-dir", "cluster-id", "log-level", "work-dir",
                   "log-url", "ident", "user", "keyfile", "session"}
_COMMON_FLAGS = {"debug", "quiet", "log-to-file", "clean-logs", "secure", "no-secure"}
_ENGINE_ALIASES = _COMMON_ALIASES | {"file", "c", "s", "url", "ssh", "sshkey", "location", "timeout"}
_ENGINE_FLAGS = _COMMON_FLAGS | {"mpi"}
_CONTROLLER_ALIASES = _COMMON_ALIASES | {"ip", "ping", "scheme", "hwm", "location", "transport", "port",
                                         "ports", "ssh", "enginessh", "url"}
_CONTROLLER_FLAGS = _COMMON_FLAGS | {"nodb", "dictdb", "sqlitedb", "mongodb", "reuse", "restore",
                                     "usethreads"}
# what ensemble's programs take as they are
_PASSED = {"profile": "--profile", "profile-dir": "--profile-dir", "cluster-id": "--cluster-id"}


def _help(program, aliases, flags):
    return "\n".join([
        "usage: python -m ensemble.%s [options]" % program,
        "",
        "ipyparallel's ip%s command line, run as `ensemble %s`." % (program, program),
        "Passed on: --profile, --profile-dir, --cluster-id%s." % (
            ", --file, --timeout, --mpi" if program == "engine" else
            ", --ip, --ping, --scheme, --hwm, --nodb, --dictdb, --restore, --reuse, "
            "--TaskScheduler.*/--IPController.ip/--HeartMonitor.period"),
        "Accepted and ignored: " + ", ".join("--" + name for name in sorted(
            (aliases | flags) - set(_PASSED) - {"ipython-dir", "file", "timeout", "mpi", "ip", "ping", "scheme", "hwm", "nodb",
                                                "dictdb", "restore", "reuse", "sqlitedb"})),
        "`ensemble %s --help` lists Ensemble's own options." % program,
    ])


def _command(program, argv, aliases, flags):
    """The ``ensemble`` command line for an ipengine/ipcontroller one; None after --help/--version."""
    if "--version" in argv:
        print(__version__)
        return None
    if any(arg in ("-h", "--help", "--help-all") for arg in argv):
        print(_help(program, aliases, flags))
        return None
    parsed = parse(argv, aliases, flags)
    log = stderr_logger("ensemble.programs")
    if parsed.get("ipython-dir"):
        os.environ["IPYTHONDIR"] = os.path.abspath(os.path.expanduser(parsed.get("ipython-dir")))
    command = [files.ensemble_executable(), program]
    for name, option in _PASSED.items():
        if parsed.get(name) is not None:
            command += [option, parsed.get(name)]
    used = set(_PASSED) | {"ipython-dir"}
    if program == "engine":
        for name in ("file", "timeout"):
            if parsed.get(name) is not None:
                command += ["--" + name, parsed.get(name)]
                used.add(name)
        if parsed.get("mpi"):
            command.append("--mpi")
            used.add("mpi")
        ignored = ["--%s=%s" % item for item in parsed.config.items()]
    else:
        if parsed.get("restore") or parsed.get("reuse"):
            command.append("--restore")
        settings = ["--%s=%s" % (name, parsed.get(name)) for name in ("ip", "ping", "scheme", "hwm")
                    if parsed.get(name) is not None]
        settings += ["--" + name for name in ("nodb", "dictdb", "sqlitedb") if parsed.get(name)]
        settings += ["--%s=%s" % item for item in parsed.config.items()]  # reported there if unknown
        profile_dir = files.profile_dir(parsed.get("profile"), parsed.get("profile-dir"))
        command += controller_options(profile_dir, None, settings, log)
        used |= {"restore", "reuse", "ip", "ping", "scheme", "hwm", "nodb", "dictdb", "sqlitedb"}
        ignored = []
    ignored = ["--" + name for name in parsed.values if name not in used] + ignored + parsed.positional
    if ignored:
        log.warning("ignored (Ensemble's %s has no such setting): %s", program, " ".join(ignored))
    return command


def _run(program, argv, aliases, flags):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        command = _command(program, argv, aliases, flags)
    except UsageError as exc:
        print("python -m ensemble.%s: %s" % (program, exc), file=sys.stderr)
        return 2
    if command is None:
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)


def engine_main(argv=None):
    return _run("engine", argv, _ENGINE_ALIASES, _ENGINE_FLAGS)


def controller_main(argv=None):
    return _run("controller", argv, _CONTROLLER_ALIASES, _CONTROLLER_FLAGS)

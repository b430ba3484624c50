"""``python -m ensemble.cluster``: ipyparallel's ``ipcluster`` for Ensemble clusters.

The subcommands and options are ipcluster's (``start -n 4 --daemonize``, ``stop --all``,
``list -o json``, ``engines``, ``clean``), so scripts and habits written for ipcluster
keep working; what they start is what ``ensemble cluster`` and ``ipp.Cluster`` start.
Settings ipcluster would hand its controller (``--TaskScheduler.scheme_name=lru``, extra
arguments such as ``--hwm=1``) go to Ensemble's controller where it has them
(controller_settings.py); the others are reported and ignored.
"""

import glob
import json
import os
import signal
import sys
import time

from .. import __version__
from ..client import files
from ..client.cluster import Cluster
from ..client.cluster_manager import ClusterManager, abbreviate_profile_dir, all_profile_dirs
from ..client.processes import ours
from ._argv import UsageError, as_int, parse, stderr_logger

# ipcluster's exit statuses
ALREADY_STARTED = 10
ALREADY_STOPPED = 11

_COMMON_ALIASES = {"profile", "profile-dir", "ipython-dir", "cluster-id", "log-level", "work-dir",
                   "log-url"}
_COMMON_FLAGS = {"debug", "quiet", "log-to-file", "clean-logs"}
_SUBCOMMANDS = {
    # name: (aliases, flags, what it does)
    "start": (_COMMON_ALIASES | {"n", "engines", "controller", "ip", "location", "delay"},
              _COMMON_FLAGS | {"daemonize"}, "Start a controller and engines (an IPython cluster)."),
    "engines": (_COMMON_ALIASES | {"n", "engines"}, _COMMON_FLAGS | {"daemonize"},
                "Start more engines for a running cluster."),
    "stop": (_COMMON_ALIASES | {"signal"}, _COMMON_FLAGS | {"all"},
             "Stop a running cluster (its ids as arguments, or --cluster-id; --all: every one "
             "in the profile)."),
    "list": (_COMMON_ALIASES | {"o", "output-format"}, _COMMON_FLAGS,
             "List the running clusters (-o json for JSON)."),
    "clean": ({"log-level", "ipython-dir", "profile-dir", "profile"}, {"debug", "quiet", "force", "all"},
              "Remove the files of stopped clusters: cluster files, logs, controller files."),
}
_OPTION_HELP = [
    ("--profile=NAME", "the IPython profile (default: default)"),
    ("--profile-dir=DIR", "the profile's directory (overrides --profile)"),
    ("--ipython-dir=DIR", "IPython's directory (default: $IPYTHONDIR, else ~/.ipython)"),
    ("--cluster-id=ID", "the cluster's id (default: '', the profile's unnamed cluster)"),
    ("-n N, --n=N", "start/engines: how many engines (default: the number of CPUs)"),
    ("--daemonize", "start/engines: return once started, leaving the cluster running"),
    ("--ip=ADDRESS", "start: where the controller listens ('*': every interface)"),
    ("--engines=Local", "start/engines: the engine launcher; Ensemble starts local engines"),
    ("--all", "stop: every cluster of the profile; clean: every profile"),
    ("--force", "clean: remove the files of running clusters too"),
    ("-o json, --output-format=json", "list: JSON instead of a table"),
    ("--debug, --log-level=LEVEL", "how much to log (default: INFO)"),
    ("--Class.trait=VALUE", "a setting; the controller's (TaskScheduler.scheme_name, "
                            "TaskScheduler.hwm, HeartMonitor.period, ...) go to the controller"),
    ("EXTRA ARGUMENTS", "start: given to the controller, as ipcluster does (--scheme=lru, --nodb)"),
]


def _usage(subcommand=None, everything=False):
    lines = ["usage: python -m ensemble.cluster SUBCOMMAND [options]", ""]
    if subcommand:
        lines[0] = "usage: python -m ensemble.cluster %s [options]" % subcommand
        lines += [_SUBCOMMANDS[subcommand][2], ""]
    else:
        lines += ["Start, stop and list Ensemble clusters, as ipyparallel's ipcluster does.", "",
                  "Subcommands:"]
        lines += ["  %-8s %s" % (name, spec[2]) for name, spec in _SUBCOMMANDS.items()]
        lines.append("")
    if everything or subcommand:
        lines.append("Options:")
        lines += ["  %-32s %s" % option for option in _OPTION_HELP]
        lines.append("")
    lines.append("--version prints the version; --help-all describes every option.")
    return "\n".join(lines)


def _logger(parsed):
    log = stderr_logger("ensemble.cluster")
    level = parsed.get("log-level", "INFO")
    if parsed.get("debug"):
        level = "DEBUG"
    if parsed.get("quiet"):
        level = "CRITICAL"
    level = as_int("log-level", level) if str(level).isdigit() else str(level).upper()
    try:
        log.setLevel(level)
    except ValueError:
        raise UsageError("--log-level takes a level such as DEBUG or 10, not %r" % level) from None
    return log


def _profile_dir(parsed):
    if parsed.get("ipython-dir"):
        # the engines and controller started from here read it too
        os.environ["IPYTHONDIR"] = os.path.abspath(os.path.expanduser(parsed.get("ipython-dir")))
    return files.profile_dir(parsed.get("profile"), parsed.get("profile-dir"))


def _cluster_settings(parsed, log):
    """Cluster keyword arguments: from aliases, ``--Cluster.trait`` settings, and the
    controller's settings (any other ``--Class.trait``, the extra arguments)."""
    kwargs = {}
    controller_args = []
    for name, value in parsed.config.items():
        section, _, trait = name.partition(".")
        if section in ("Cluster", "IPClusterStart", "IPClusterEngines") and trait in (
                "n", "cluster_id", "controller_ip", "engine_launcher_class",
                "controller_launcher_class", "delay", "controller_location"):
            kwargs[trait] = as_int(name, value) if trait == "n" else value
        elif section in ("IPClusterStart", "IPClusterEngines") and trait == "daemonize":
            parsed.values["daemonize"] = value.lower() in ("true", "1", "yes")
        else:
            controller_args.append("--%s=%s" % (name, value))
    for alias, trait in (("n", "n"), ("engines", "engine_launcher_class"),
                         ("controller", "controller_launcher_class"), ("ip", "controller_ip"),
                         ("location", "controller_location"), ("delay", "delay")):
        if parsed.get(alias) is not None:
            kwargs[trait] = as_int("n", parsed.get(alias)) if alias == "n" else parsed.get(alias)
    kwargs["controller_args"] = controller_args + parsed.positional
    kwargs["log"] = log
    return kwargs


class _Stop:
    """Set by SIGINT/SIGTERM; SIGUSR1/SIGUSR2 go on to the engines, as ipcluster relays them."""

    def __init__(self, cluster, log):
        self.requested = False
        self._cluster = cluster
        self._log = log
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        for name in ("SIGUSR1", "SIGUSR2"):
            signal.signal(getattr(signal, name), self._relay)

    def _stop(self, signum, frame):
        self._log.info("signal %i: stopping", signum)
        self.requested = True

    def _relay(self, signum, frame):
        self._log.debug("relaying signal %i to the engines", signum)
        try:
            self._cluster.signal_engines_sync(signum)
        except Exception as exc:
            self._log.warning("could not relay signal %i: %s", signum, exc)


def _running(cluster):
    pid = (cluster.controller or {}).get("pid")
    return bool(pid) and ours(pid)


def _start(parsed, log):
    profile_dir = _profile_dir(parsed)
    kwargs = _cluster_settings(parsed, log)
    daemonize = bool(parsed.get("daemonize"))
    cluster = Cluster(profile_dir=profile_dir, cluster_id=parsed.get("cluster-id", ""),
                      shutdown_atexit=not daemonize, **kwargs)
    if os.path.isfile(cluster.cluster_file):
        try:
            running = _running(Cluster.from_file(cluster.cluster_file))
        except Exception as exc:
            log.error("cannot read %s (%s): taking the cluster as stopped", cluster.cluster_file, exc)
            running = False
        if running:
            log.critical("Cluster is already running at %s. Use `python -m ensemble.cluster stop` "
                         "to stop it.", cluster.cluster_file)
            return ALREADY_STARTED
    log.info("starting cluster %r (%i engines) in %s", cluster.cluster_id, cluster.n, profile_dir)
    cluster.start_cluster_sync()
    if daemonize:
        print("Leaving cluster running: %s" % cluster.cluster_file, file=sys.stderr)
        return 0
    stop = _Stop(cluster, log)
    try:
        while not stop.requested and _running(cluster):
            time.sleep(0.1)
        if not stop.requested:
            log.warning("the controller stopped: stopping the cluster")
    finally:
        cluster.stop_cluster_sync()
    return 0


def _engines(parsed, log):
    profile_dir = _profile_dir(parsed)
    kwargs = _cluster_settings(parsed, log)
    try:
        cluster = Cluster.from_file(profile_dir=profile_dir, cluster_id=parsed.get("cluster-id", ""),
                                    log=log)
    except FileNotFoundError as exc:
        log.critical("no running cluster: %s", exc)
        return 1
    if not _running(cluster):
        log.critical("cluster %r is not running", cluster.cluster_id)
        return 1
    n = kwargs.get("n") or os.cpu_count() or 1
    engine_set = cluster.start_engines_sync(n)
    if parsed.get("daemonize"):
        return 0
    stop = _Stop(cluster, log)
    pids = cluster.engines[engine_set].pids
    try:
        while not stop.requested and _running(cluster) and any(ours(pid) for pid in pids):
            time.sleep(0.1)
    finally:
        if _running(cluster):
            cluster.stop_engines_sync(engine_set)
    return 0


def _stop(parsed, log):
    profile_dir = _profile_dir(parsed)
    if parsed.get("all"):
        clusters = list(ClusterManager(log=log).load_clusters(profile_dir=profile_dir).values())
    else:
        clusters = []
        for cluster_id in parsed.positional or [parsed.get("cluster-id", "")]:
            try:
                clusters.append(Cluster.from_file(profile_dir=profile_dir, cluster_id=cluster_id, log=log))
            except FileNotFoundError as exc:
                log.critical("Could not find cluster file %s", exc)
                return ALREADY_STOPPED
    if not clusters:
        log.info("No clusters to stop")
    for cluster in clusters:
        log.info("Stopping cluster %r", cluster.cluster_id)
        cluster.stop_cluster_sync()
    return 0


def _list(parsed, log):
    output = (parsed.get("output-format") or parsed.get("o") or "text").lower()
    if output not in ("text", "json"):
        raise UsageError("--output-format takes text or json, not %r" % output)
    profile_dirs = None  # every profile, unless one is named
    if parsed.get("profile") not in (None, "default") or parsed.get("profile-dir"):
        profile_dirs = [_profile_dir(parsed)]
    elif parsed.get("ipython-dir"):
        _profile_dir(parsed)
    clusters = ClusterManager(log=log).load_clusters(profile_dirs=profile_dirs).values()
    clusters = sorted(clusters, key=lambda c: (c.profile_dir, c.cluster_id))
    if output == "json":
        json.dump([cluster.to_dict() for cluster in clusters], sys.stdout)
        return 0
    print("%-16s %-32s %-7s %-7s %s" % ("PROFILE", "CLUSTER ID", "RUNNING", "ENGINES", "LAUNCHER"))
    for cluster in clusters:
        engines = sum(engine_set.n for engine_set in cluster.engines.values())
        launcher = cluster.engine_launcher_class.__name__
        if launcher.endswith("EngineSetLauncher"):
            launcher = launcher[:-len("EngineSetLauncher")]
        print("%-16s %-32s %-7s %7i %s" % (abbreviate_profile_dir(cluster.profile_dir),
                                          cluster.cluster_id or repr(""), bool(cluster.controller),
                                          engines, launcher))
    return 0


def _clean(parsed, log):
    profile_dirs = all_profile_dirs() if parsed.get("all") else [_profile_dir(parsed)]
    cluster_files = {d: ClusterManager._cluster_files_in_profile_dir(d) for d in profile_dirs}
    if not parsed.get("force"):
        for found in cluster_files.values():
            for cluster_file in found:
                try:
                    running = _running(Cluster.from_file(cluster_file))
                except Exception:
                    running = False  # not readable: not a running cluster's
                if running:
                    log.critical("%s is a running cluster's; stop it first, or clean with --force "
                                 "(which may leave its processes orphaned)", cluster_file)
                    return 1
    for profile_dir, found in cluster_files.items():
        log.info("Cleaning cluster files in %s", profile_dir)
        security = os.path.join(profile_dir, "security")
        doomed = found + glob.glob(os.path.join(profile_dir, "log", "*"))
        doomed += glob.glob(os.path.join(security, "ipcontroller-*.json"))
        doomed += glob.glob(os.path.join(security, "engine-*.json"))  # our engines' kernel files
        for path in doomed:
            log.debug("Removing %s", path)
            try:
                os.remove(path)
            except OSError as exc:
                log.error("Error removing %s: %s", path, exc)
    return 0


_RUN = {"start": _start, "engines": _engines, "stop": _stop, "list": _list, "clean": _clean}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--version" in argv:
        print(__version__)
        return 0
    if not argv or argv[0] not in _SUBCOMMANDS:
        if argv and argv[0] in ("-h", "--help", "--help-all"):
            print(_usage(everything=argv[0] == "--help-all"))
            return 0
        print("No subcommand specified. Must specify one of: %s"
              % ", ".join("'%s'" % name for name in _SUBCOMMANDS), file=sys.stderr)
        print(_usage(), file=sys.stderr)
        return 1
    subcommand, rest = argv[0], argv[1:]
    if any(arg in ("-h", "--help", "--help-all") for arg in rest):
        print(_usage(subcommand, everything=True))
        return 0
    aliases, flags, _ = _SUBCOMMANDS[subcommand]
    try:
        parsed = parse(rest, aliases, flags)
        log = _logger(parsed)
        return _RUN[subcommand](parsed, log)
    except UsageError as exc:
        print("python -m ensemble.cluster %s: %s" % (subcommand, exc), file=sys.stderr)
        print(_usage(subcommand), file=sys.stderr)
        return 2

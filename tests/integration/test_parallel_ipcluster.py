"""``python -m ensemble.cluster``, ``.engine`` and ``.controller``: ipyparallel's ipcluster,
ipengine and ipcontroller command lines, for Ensemble clusters."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import ensemble as ipp
from cluster_util import wait_until

pytestmark = pytest.mark.ensemble_only


@pytest.fixture
def ipython_dir(tmp_path):
    """A fresh IPYTHONDIR; whatever a test leaves running in it is stopped after."""
    path = tmp_path / "ipython"
    path.mkdir()
    yield path
    subprocess.run([sys.executable, "-m", "ensemble.cluster", "stop", "--all", "--quiet"],
                   env=_env(path), timeout=60, capture_output=True)
    for cluster_file in glob.glob(str(path / "profile_*" / "security" / "cluster*.json")):
        with open(cluster_file) as f:
            info = json.load(f)
        for pid in [info.get("controller_pid"), *info.get("engine_pids", [])]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (OSError, TypeError):
                pass


def _env(ipython_dir):
    return dict(os.environ, IPYTHONDIR=str(ipython_dir))


def _run(ipython_dir, module, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "ensemble." + module, *args], env=_env(ipython_dir),
                          capture_output=True, text=True, timeout=timeout)


def _ipcluster(ipython_dir, *args, **kwargs):
    return _run(ipython_dir, "cluster", *args, **kwargs)


def _listed(ipython_dir):
    proc = _ipcluster(ipython_dir, "list")
    assert proc.returncode == 0, proc.stderr
    head, *rows = proc.stdout.strip().splitlines()
    assert head.split() == ["PROFILE", "CLUSTER", "ID", "RUNNING", "ENGINES", "LAUNCHER"]
    return [row.split() for row in rows]


@pytest.mark.parametrize("module", ["cluster", "engine", "controller"])
def test_version_and_help_all_as_ipyparallels_programs_answer_them(module):
    version = subprocess.run([sys.executable, "-m", "ensemble." + module, "--version"],
                             capture_output=True, text=True, timeout=30)
    assert (version.returncode, version.stdout.strip()) == (0, ipp.__version__)
    helped = subprocess.run([sys.executable, "-m", "ensemble." + module, "--help-all"],
                            capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0 and "usage: python -m ensemble." + module in helped.stdout


@pytest.mark.parametrize("subcommand", ["start", "stop", "list", "engines", "clean"])
def test_each_ipcluster_subcommand_has_help(subcommand, tmp_path):
    proc = _ipcluster(tmp_path, subcommand, "--help-all")
    assert proc.returncode == 0 and "ensemble.cluster " + subcommand in proc.stdout


def test_no_subcommand_an_unknown_option_or_a_missing_value_is_a_usage_error(tmp_path):
    proc = _ipcluster(tmp_path)
    assert proc.returncode == 1 and "Must specify one of" in proc.stderr
    proc = _ipcluster(tmp_path, "start", "--no-such-option")
    assert proc.returncode == 2 and "unrecognized argument: --no-such-option" in proc.stderr
    proc = _ipcluster(tmp_path, "start", "-n")
    assert proc.returncode == 2 and "needs a value" in proc.stderr
    proc = _ipcluster(tmp_path, "list", "-o", "yaml")
    assert proc.returncode == 2 and "text or json" in proc.stderr


@pytest.mark.deadline(120)
def test_start_daemonized_list_connect_stop_as_with_ipcluster(ipython_dir):
    assert _listed(ipython_dir) == []
    assert json.loads(_ipcluster(ipython_dir, "list", "-o", "json").stdout) == []

    started = _ipcluster(ipython_dir, "start", "-n", "2", "--daemonize", "--cluster-id=cli")
    assert started.returncode == 0, started.stderr
    assert "Leaving cluster running" in started.stderr
    assert _listed(ipython_dir) == [["default", "cli", "True", "2", "Local"]]
    [described] = json.loads(_ipcluster(ipython_dir, "list", "-o", "json").stdout)
    assert described["cluster"]["cluster_id"] == "cli"
    # ipyparallel's layout, which scripts reading `ipcluster list -o json` walk
    assert described["controller"]["class"] == "Local" and described["controller"]["state"]["pid"] > 0
    assert described["engines"]["class"] == "Local"
    [engine_set] = described["engines"]["sets"].values()
    assert engine_set["n"] == 2 and len(engine_set["engines"]) == 2
    assert sorted(e["pid"] for e in engine_set["engines"].values()) == sorted(engine_set["pids"])

    again = _ipcluster(ipython_dir, "start", "-n", "1", "--daemonize", "--cluster-id=cli")
    assert again.returncode == 10 and "already running" in again.stderr  # ipcluster's ALREADY_STARTED

    profile_dir = str(ipython_dir / "profile_default")
    cluster = ipp.Cluster.from_file(profile_dir=profile_dir, cluster_id="cli")
    with cluster.connect_client_sync() as rc:
        rc.wait_for_engines(2, timeout=30)
        assert len(set(rc[:].apply_sync(os.getpid))) == 2
        added = _ipcluster(ipython_dir, "engines", "--n=1", "--daemonize", "--cluster-id", "cli")
        assert added.returncode == 0, added.stderr
        rc.wait_for_engines(3, timeout=30)

    stopped = _ipcluster(ipython_dir, "stop", "--cluster-id=cli")
    assert stopped.returncode == 0, stopped.stderr
    assert _listed(ipython_dir) == []
    assert _ipcluster(ipython_dir, "stop", "--cluster-id=cli").returncode == 11  # ALREADY_STOPPED
    assert _ipcluster(ipython_dir, "stop", "--all").returncode == 0  # nothing to stop is fine


@pytest.mark.deadline(120)
def test_start_in_the_foreground_runs_until_interrupted_or_stopped_from_elsewhere(ipython_dir):
    cluster_file = ipython_dir / "profile_default" / "security" / "cluster.json"
    for ending in ("SIGINT", "stop"):
        start = subprocess.Popen([sys.executable, "-m", "ensemble.cluster", "start", "-n", "1"],
                                 env=_env(ipython_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert wait_until(lambda: cluster_file.exists() or start.poll() is not None, 30)
            assert start.poll() is None, start.stderr.read()
            with open(cluster_file) as f:
                pids = [json.load(f)["controller_pid"]]
            assert _listed(ipython_dir) == [["default", "''", "True", "1", "Local"]]
            if ending == "SIGINT":
                start.send_signal(signal.SIGINT)
            else:
                assert _ipcluster(ipython_dir, "stop").returncode == 0
            assert start.wait(30) == 0
            assert _listed(ipython_dir) == []
            assert wait_until(lambda: not os.path.exists("/proc/%d" % pids[0]), 10)
        finally:
            if start.poll() is None:
                start.kill()
                start.wait()


@pytest.mark.deadline(120)
def test_clean_removes_a_stopped_clusters_files_and_leaves_a_running_ones_unless_forced(ipython_dir):
    profile_dir = ipython_dir / "profile_default"
    assert _ipcluster(ipython_dir, "start", "-n", "1", "--daemonize").returncode == 0
    refused = _ipcluster(ipython_dir, "clean")
    assert refused.returncode == 1 and "running" in refused.stderr
    assert (profile_dir / "security" / "cluster.json").exists()

    assert _ipcluster(ipython_dir, "stop").returncode == 0
    (profile_dir / "security" / "cluster-left-behind.json").write_text('{"controller_pid": 999999999}')
    assert list((profile_dir / "log").iterdir()), "the cluster's logs"
    cleaned = _ipcluster(ipython_dir, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert list((profile_dir / "log").iterdir()) == []
    assert glob.glob(str(profile_dir / "security" / "*.json")) == []


@pytest.mark.deadline(120)
def test_ipcontroller_and_ipengine_command_lines_start_a_controller_and_an_engine(ipython_dir, tmp_path):
    profile_dir = str(tmp_path / "profile_cli")
    env = _env(ipython_dir)
    logs = {name: open(tmp_path / (name + ".log"), "w+") for name in ("controller", "engine")}
    # ipcontroller's spellings; --port and --usethreads mean nothing here and are reported
    controller = subprocess.Popen(
        [sys.executable, "-m", "ensemble.controller", "--profile-dir=" + profile_dir, "--cluster-id", "pm",
         "--scheme=lru", "--nodb", "--ping=500", "--port=1", "--usethreads"],
        env=env, stdout=logs["controller"], stderr=subprocess.STDOUT)
    engine = None
    try:
        client_file = os.path.join(profile_dir, "security", "ipcontroller-pm-client.json")
        assert wait_until(lambda: os.path.exists(client_file) or controller.poll() is not None, 30)
        assert controller.poll() is None
        # the same process, now `ensemble controller` with the settings it has
        with open("/proc/%d/cmdline" % controller.pid) as f:
            argv = f.read().split("\0")
        assert argv[1] == "controller"
        for option, value in (("--scheme", "lru"), ("--db", "memory"), ("--heartbeat-period", "500"),
                              ("--cluster-id", "pm")):
            assert argv[argv.index(option) + 1] == value, argv
        engine = subprocess.Popen(
            [sys.executable, "-m", "ensemble.engine", "--profile-dir", profile_dir, "--cluster-id=pm",
             "--timeout=30", "--mpi", "--log-to-file"],
            env=env, stdout=logs["engine"], stderr=subprocess.STDOUT)
        rc = ipp.Client(url_file=client_file)
        try:
            rc.wait_for_engines(1, timeout=30)
            assert rc[0].apply_sync(os.getpid) == engine.pid
        finally:
            rc.close()
    finally:
        for proc in (engine, controller):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    written = {}
    for name, log in logs.items():
        log.seek(0)
        written[name] = log.read()
        log.close()
    assert "ignored (Ensemble's controller has no such setting): --port --usethreads" in written["controller"]
    assert "ignored (Ensemble's engine has no such setting): --log-to-file" in written["engine"]
    # --mpi is passed on: outside mpiexec the engine says so and runs without MPI
    assert "--mpi: no MPI rank in the environment" in written["engine"]

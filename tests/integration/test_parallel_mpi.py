"""Engines started by mpiexec (`ensemble engine --mpi`, as ipyparallel's `ipengine --mpi`):
each asks for its MPI rank as its engine id and has mpi4py's MPI, mpi_rank and mpi_size in its
namespace, so the engines of one mpiexec can talk MPI to each other while the client drives
them. Open MPI and mpi4py come from Debian (scripts/install-deps.sh)."""

import os
import shutil
import signal
import subprocess
import sys

import pytest

import ensemble as ipp
from ensemble.cluster.launcher import MPIEngineSetLauncher
from cluster_util import cluster, wait_until  # noqa: F401 (cluster: a fixture)
from conftest import ENSEMBLE_BIN

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(120)]

MPIEXEC = shutil.which("mpiexec")
# Open MPI refuses root unless told (these machines run tests as root); more ranks than cores
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")


def _mpi_engines(engine_file, n, *engine_args, module=False, log=None):
    program = [sys.executable, "-m", "ensemble.engine"] if module else [str(ENSEMBLE_BIN), "engine"]
    return subprocess.Popen([MPIEXEC, "-n", str(n), *program, "--file", str(engine_file), *engine_args],
                            env=MPI_ENV, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _end(mpiexec):
    if mpiexec.poll() is None:
        os.killpg(mpiexec.pid, signal.SIGTERM)  # mpiexec passes it on to its ranks
        try:
            mpiexec.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(mpiexec.pid, signal.SIGKILL)
            mpiexec.wait()


@ipp.interactive  # run in the engine's namespace, where the engine's --mpi setup put these names
def _world():
    return mpi_rank, mpi_size, MPI.COMM_WORLD.allreduce(mpi_rank + 1)  # noqa: F821


@ipp.interactive
def _rank():
    return globals().get("mpi_rank")


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (scripts/install-deps.sh installs openmpi-bin)")
@pytest.mark.parametrize("module", [False, True], ids=["ensemble engine", "python -m ensemble.engine"])
def test_engines_started_by_mpiexec_take_their_ranks_as_ids_and_talk_mpi(cluster, module):
    pytest.importorskip("mpi4py")
    c = cluster(n=0)
    mpiexec = _mpi_engines(c.file("ipcontroller-engine"), 3, "--mpi", module=module)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(3, timeout=60)
        assert rc.ids == [0, 1, 2]
        # all three at once: allreduce needs every rank
        worlds = rc[:].apply_async(_world).get(30)
        assert worlds == [(rank, 3, 6) for rank in range(3)]
        # the ranks are mpiexec's own (python -m ensemble.engine becomes ensemble engine)
        assert rc[:].apply_sync(os.getppid) == [mpiexec.pid] * 3
    finally:
        rc.close()
        _end(mpiexec)


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (scripts/install-deps.sh installs openmpi-bin)")
def test_an_mpi_engine_whose_rank_is_taken_gets_another_id(cluster, tmp_path):
    pytest.importorskip("mpi4py")
    c = cluster(n=1)  # engine 0 is there already
    mpiexec = _mpi_engines(c.file("ipcontroller-engine"), 2, "--mpi")
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(3, timeout=60)
        assert sorted(rc.ids) == [0, 1, 2]
        ranks = dict(zip(rc.ids, rc[:].apply_sync(_rank)))
        assert ranks[0] is None and sorted([ranks[1], ranks[2]]) == [0, 1]
    finally:
        rc.close()
        _end(mpiexec)


def test_mpi_without_an_mpi_launcher_warns_and_the_engine_serves_without_mpi(cluster, tmp_path):
    c = cluster(n=0)
    log = open(tmp_path / "engine.log", "w+")
    engine = subprocess.Popen([str(ENSEMBLE_BIN), "engine", "--file", str(c.file("ipcontroller-engine")), "--mpi"],
                              stdout=log, stderr=subprocess.STDOUT,
                              env={k: v for k, v in os.environ.items() if "RANK" not in k and "PROCID" not in k})
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(1, timeout=30)
        assert rc[0].apply_sync(lambda: 6 * 7) == 42
        assert rc[0].apply_sync(_rank) is None
    finally:
        rc.close()
        engine.terminate()
        engine.wait(20)
    log.seek(0)
    assert "no MPI rank in the environment" in log.read()


@pytest.fixture
def mpi_env(monkeypatch, tmp_path):
    """Open MPI's settings for these machines, for the cluster's own mpiexec; IPYTHONDIR here."""
    pytest.importorskip("mpi4py")
    if MPIEXEC is None:
        pytest.skip("no mpiexec (scripts/install-deps.sh installs openmpi-bin)")
    for name in ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "OMPI_MCA_rmaps_base_oversubscribe"):
        monkeypatch.setenv(name, MPI_ENV[name])
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return tmp_path


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_cluster_with_the_mpi_engine_launcher_starts_and_stops_engine_sets_through_mpiexec(mpi_env):
    from traitlets.config import Config

    config = Config()
    config.MPILauncher.mpi_args = ["--bind-to", "none"]  # ipyparallel's setting, passed to mpiexec
    cluster = ipp.Cluster(n=3, engine_launcher_class="MPI", config=config, load_profile=False,
                          profile_dir=str(mpi_env / "profile"), log_level=40)
    try:
        rc = cluster.start_and_connect_sync()
        assert rc.ids == [0, 1, 2]
        [mpiexec] = cluster.engines["0"].pids
        assert cluster.engines["0"].n == 3
        with open("/proc/%d/cmdline" % mpiexec) as f:
            argv = f.read().split("\0")
        assert argv[1:5] == ["-n", "3", "--bind-to", "none"] and argv[-2:] == ["--mpi", ""]
        assert rc[:].apply_sync(os.getppid) == [mpiexec] * 3
        assert rc[:].apply_async(_world).get(30) == [(rank, 3, 6) for rank in range(3)]
        # a second set: its own mpiexec, its ranks 0 and 1 taken, so the next ids
        second = cluster.start_engines_sync(2)
        rc.wait_for_engines(5, timeout=60)
        assert rc.ids == [0, 1, 2, 3, 4] and cluster.engines[second].n == 2
        assert sorted(rc[[3, 4]].apply_sync(_rank)) == [0, 1]
        # a copy from the cluster's file knows its launcher and counts every engine
        listed = ipp.Cluster.from_file(profile_dir=cluster.profile_dir, cluster_id=cluster.cluster_id)
        assert listed.engine_launcher_class is MPIEngineSetLauncher
        assert sum(engine_set.n for engine_set in listed.engines.values()) == 5
        [second_mpiexec] = cluster.engines[second].pids
        cluster.stop_engines_sync(second)
        assert wait_until(lambda: rc.ids == [0, 1, 2], 20)
        assert wait_until(lambda: _gone(second_mpiexec), 20)
        rc.close()
    finally:
        cluster.stop_cluster_sync()
    assert wait_until(lambda: _gone(mpiexec), 20), "mpiexec outlived its cluster"


def test_an_mpi_launcher_that_is_not_there_fails_the_start_before_anything_runs(mpi_env):
    from traitlets.config import Config

    profile_dir = mpi_env / "profile"
    started = subprocess.run([str(ENSEMBLE_BIN), "cluster", "start", "-n", "2", "--mpi", "--mpiexec",
                              str(mpi_env / "no-mpiexec"), "--daemonize", "--profile-dir", str(profile_dir)],
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 2 and "no-mpiexec' not found" in started.stderr
    assert not list(profile_dir.glob("security/*.json"))  # no controller, no cluster file
    config = Config()
    config.MPILauncher.mpi_cmd = ["not-an-mpiexec"]
    cluster = ipp.Cluster(n=2, engine_launcher_class="MPI", config=config, load_profile=False,
                          profile_dir=str(profile_dir), log_level=40)
    with pytest.raises(RuntimeError, match="not-an-mpiexec' not found"):
        cluster.start_cluster_sync()
    assert not list(profile_dir.glob("security/*.json"))


def test_ipcluster_start_with_mpi_engines_lists_them_and_stops_them(mpi_env):
    env = dict(os.environ)
    started = subprocess.run([sys.executable, "-m", "ensemble.cluster", "start", "-n", "2", "--engines=MPI",
                              "--daemonize"], env=env, capture_output=True, text=True, timeout=60)
    try:
        assert started.returncode == 0, started.stderr
        listed = subprocess.run([sys.executable, "-m", "ensemble.cluster", "list"], env=env,
                                capture_output=True, text=True, timeout=60).stdout.splitlines()
        assert listed[1].split() == ["default", "\'\'", "True", "2", "MPI"]
        rc = ipp.Client()
        try:
            rc.wait_for_engines(2, timeout=60)
            assert sorted(rc[:].apply_sync(_rank)) == [0, 1]
        finally:
            rc.close()
    finally:
        stopped = subprocess.run([sys.executable, "-m", "ensemble.cluster", "stop"], env=env,
                                 capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr

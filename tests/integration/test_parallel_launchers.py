"""``cluster.controller`` and ``cluster.engines[id]``, as ipyparallel's launcher objects show
them: ``process``/``processes`` (psutil), ``pid``/``pids``, ``n`` and ``config``; found by
``find_launcher_class``, kept across ``to_dict``/``from_dict``; and ``engine_launcher_class``."""

import logging
import sys

import pytest

import ensemble as ipp
from ensemble.cluster.launcher import (LocalControllerLauncher, LocalEngineSetLauncher, MPIEngineSetLauncher,
                                      abbreviate_launcher_class, find_launcher_class)
from parallel_fixtures import cluster_info, own_cluster  # noqa: F401 (own_cluster: a fixture)

pytestmark = pytest.mark.ensemble_only
psutil = pytest.importorskip("psutil")


@pytest.mark.deadline(60)
def test_the_controller_is_a_launcher_whose_process_is_the_running_controller(own_cluster):
    c = own_cluster(n=0)
    cluster = c.cluster
    cluster.start_controller_sync()
    c.remember_pids()
    controller = cluster.controller
    assert isinstance(controller, find_launcher_class("Local", "controller"))
    assert controller.config is cluster.config
    proc = controller.process
    assert proc.pid == cluster_info(c.profile_dir, c.cluster_id)["controller_pid"]
    assert proc.is_running() and controller.running
    with pytest.raises(RuntimeError):
        cluster.start_controller_sync()
    cluster.stop_controller_sync()
    proc.wait(timeout=5)
    assert cluster.controller is None
    assert controller.process is proc and not proc.is_running() and not controller.running


@pytest.mark.deadline(60)
def test_an_engine_set_is_a_launcher_with_its_engines_processes(own_cluster):
    c = own_cluster(n=0)
    cluster = c.cluster
    cluster.start_controller_sync()
    engine_set_id = cluster.start_engines_sync(2)
    c.remember_pids()
    engine_set = cluster.engines[engine_set_id]
    assert isinstance(engine_set, LocalEngineSetLauncher)
    assert engine_set.n == 2 and len(engine_set.pids) == 2
    with cluster.connect_client_sync() as rc:
        rc.wait_for_engines(2, timeout=30)
        assert sorted(rc[:].apply_sync(lambda: __import__("os").getpid())) == sorted(engine_set.pids)
    assert sorted(p.pid for p in engine_set.processes) == sorted(engine_set.pids)
    cluster.stop_engines_sync(engine_set_id)
    assert cluster.engines == {}
    cluster.stop_cluster_sync()


@pytest.mark.deadline(60)
def test_a_cluster_rebuilt_from_its_dict_has_the_same_processes_and_either_may_stop_it(own_cluster):
    c = own_cluster(n=1)
    cluster = c.cluster
    cluster.start_cluster_sync()
    c.remember_pids()
    copy = ipp.Cluster.from_dict(cluster.to_dict())
    assert copy.controller.process.pid == cluster.controller.process.pid
    assert list(copy.engines) == list(cluster.engines)
    assert copy.engines["0"].pids == cluster.engines["0"].pids
    assert copy.engine_launcher_class is cluster.engine_launcher_class is LocalEngineSetLauncher
    proc = cluster.controller.process
    copy.stop_cluster_sync()
    proc.wait(timeout=5)
    cluster.stop_cluster_sync()  # already stopped by the copy: not an error
    assert cluster.controller is None


@pytest.mark.parametrize("name", ["Local", "local", LocalEngineSetLauncher,
                                  "ensemble.cluster.launcher.LocalEngineSetLauncher",
                                  "ipyparallel.cluster.launcher.LocalEngineSetLauncher"])
def test_the_local_engine_launcher_goes_by_any_of_its_names(name):
    assert find_launcher_class(name, "engine") is LocalEngineSetLauncher
    assert ipp.Cluster(engine_launcher_class=name, load_profile=False).engine_launcher_class \
        is LocalEngineSetLauncher
    assert find_launcher_class("Local", "controller") is LocalControllerLauncher


def test_a_launcher_ensemble_does_not_have_is_reported_and_the_local_one_used(caplog):
    with pytest.raises(KeyError):
        find_launcher_class("SGE", "engine")
    with pytest.raises(KeyError):
        find_launcher_class("MPI", "controller")
    with pytest.raises(ValueError):
        find_launcher_class("Local", "hub")
    with caplog.at_level(logging.WARNING):
        cluster = ipp.Cluster(engine_launcher_class="SSH", load_profile=False)
    assert cluster.engine_launcher_class is LocalEngineSetLauncher
    assert "engine_launcher_class='SSH' is ignored" in caplog.text


@pytest.mark.parametrize("name", ["MPI", "mpi", "MPIExec", MPIEngineSetLauncher,
                                  "ipyparallel.cluster.launcher.MPIEngineSetLauncher"])
def test_the_mpi_engine_launcher_goes_by_ipyparallels_names(name):
    assert find_launcher_class(name, "engine") is MPIEngineSetLauncher
    cluster = ipp.Cluster(engine_launcher_class=name, load_profile=False)
    assert cluster.engine_launcher_class is MPIEngineSetLauncher
    assert abbreviate_launcher_class(MPIEngineSetLauncher) == "MPI"
    assert abbreviate_launcher_class(LocalEngineSetLauncher) == "Local"


def test_a_cluster_in_an_ipython_session_logs_to_stdout_and_one_with_a_parent_uses_its_log():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # the session's IPYTHONDIR goes before atexit
    shell = InteractiveShell.instance(config=config)
    cluster = ipp.Cluster(parent=shell, load_profile=False)
    assert cluster.log.name == "ensemble.client.cluster.%s" % cluster.cluster_id
    assert [h.stream for h in cluster.log.handlers] == [sys.stdout]

    class Parent:
        log = logging.getLogger("the-parent")

    assert ipp.Cluster(parent=Parent(), load_profile=False).log is Parent.log

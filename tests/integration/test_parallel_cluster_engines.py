"""One engine of a Cluster by its engine id (``signal_engine``, ``stop_engine``,
``restart_engine``: ipyparallel 7.1 names them and raises NotImplementedError), and the
cluster file methods ``write_cluster_file``/``update_cluster_file``."""

import os
import signal

import pytest

import ensemble as ipp
from cluster_util import wait_until
from parallel_fixtures import own_cluster  # noqa: F401 (a fixture)

pytestmark = pytest.mark.ensemble_only


def _state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _running_cluster(own_cluster, n):
    """A started cluster of ``n`` engines, its processes remembered for the teardown."""
    c = own_cluster(n=n)
    c.cluster.start_cluster_sync()
    c.remember_pids()
    return c, c.cluster


@pytest.mark.deadline(90)
def test_one_engine_is_signalled_stopped_and_restarted_by_its_id_and_the_others_keep_working(own_cluster):
    c, cluster = _running_cluster(own_cluster, 2)
    with cluster.connect_client_sync() as rc:
        rc.wait_for_engines(2, timeout=30)
        first, second = rc.ids
        pids = dict(zip(rc.ids, rc[:].apply_sync(os.getpid)))
        cluster.signal_engine_sync("SIGSTOP", first)
        assert wait_until(lambda: _state(pids[first]) == "T", 20)
        assert _state(pids[second]) != "T", "only the engine named"
        cluster.signal_engine_sync(signal.SIGCONT, first)
        assert wait_until(lambda: _state(pids[first]) != "T", 20)

        cluster.stop_engine_sync(first)
        assert wait_until(lambda: rc.ids == [second], 20)
        assert [pids[second]] == [pid for s in cluster.engines.values() for pid in s.pids]
        assert rc[second].apply_sync(lambda: 6 * 7) == 42

        cluster.restart_engine_sync(second)
        c.remember_pids()
        assert wait_until(lambda: len(rc.ids) == 1 and rc.ids != [second], 30)
        new_pid = rc[rc.ids[0]].apply_sync(os.getpid)
        assert new_pid != pids[second]
        assert [new_pid] == [pid for s in cluster.engines.values() for pid in s.pids]
        with pytest.raises(KeyError):
            cluster.stop_engine_sync(second)  # gone: no longer an engine of this cluster
    cluster.stop_cluster_sync()


@pytest.mark.deadline(60)
def test_the_cluster_file_keeps_what_write_cluster_file_saves_and_update_removes_it_once_stopped(own_cluster):
    c = own_cluster(n=1)
    cluster = c.cluster
    cluster.start_cluster_sync()
    c.remember_pids()
    cluster.write_cluster_file()
    copy = ipp.Cluster.from_file(cluster.cluster_file)
    assert copy.cluster_id == cluster.cluster_id and copy.engines["0"].pids == cluster.engines["0"].pids
    cluster.update_cluster_file()
    assert os.path.exists(cluster.cluster_file), "running: kept"
    cluster.stop_cluster_sync()
    cluster.update_cluster_file()
    assert not os.path.exists(cluster.cluster_file)
    cluster.remove_cluster_file()  # gone already: not an error


def _engine_files(cluster):
    security = os.path.join(cluster.profile_dir, "security")
    return sorted(f for f in os.listdir(security) if f.startswith("engine-%s-" % cluster.cluster_id))


@pytest.mark.deadline(90)
def test_engines_ended_while_busy_leave_no_connection_files_and_the_stop_does_not_wait_for_their_tasks(
        own_cluster):
    import time

    c = own_cluster(n=2)
    cluster = c.cluster
    cluster.start_cluster_sync()
    more = cluster.start_engines_sync(n=1)
    c.remember_pids()
    with cluster.connect_client_sync() as rc:
        rc.wait_for_engines(3, timeout=30)
        assert wait_until(lambda: len(_engine_files(cluster)) == 3, 20)  # written once registered
        marks = os.path.join(c.profile_dir, "running")
        os.mkdir(marks)

        def mark_and_sleep(directory):
            import os
            import time

            open(os.path.join(directory, str(os.getpid())), "w").close()
            time.sleep(60)

        rc[:].apply_async(mark_and_sleep, marks)
        assert wait_until(lambda: len(os.listdir(marks)) == 3, 20), "every engine is busy"
        # stop_engines ends an engine set by SIGTERM
        cluster.stop_engines_sync(more)
        assert wait_until(lambda: len(_engine_files(cluster)) == 2, 20), _engine_files(cluster)
        # the cluster's stop: the controller's shutdown, which a busy engine cannot take
        started = time.monotonic()
        cluster.stop_cluster_sync()
        assert time.monotonic() - started < 10
    assert _engine_files(cluster) == []


@pytest.mark.deadline(90)
def test_engines_that_a_shutdown_ends_while_busy_leave_no_connection_files(own_cluster):
    import time

    _, cluster = _running_cluster(own_cluster, 2)
    rc = cluster.connect_client_sync()
    rc.wait_for_engines(2, timeout=30)
    assert wait_until(lambda: len(_engine_files(cluster)) == 2, 20)
    pids = rc[:].apply_sync(os.getpid)
    rc[:].apply_async(time.sleep, 60)
    time.sleep(0.5)
    rc.shutdown(hub=True, block=True)  # the engines' grace for a busy cell is 3 s
    assert wait_until(lambda: not any(os.path.exists("/proc/%d" % pid) and _state(pid) != "Z" for pid in pids),
                      30)
    assert _engine_files(cluster) == []
    rc.close()


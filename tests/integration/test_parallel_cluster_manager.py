"""ClusterManager (``ipp.ClusterManager``, ``ensemble.cluster``): the running clusters of this
machine's IPython profiles, by ``PROFILE:CLUSTER_ID``, as ipyparallel lists them."""

import os

import pytest

import ensemble as ipp
from cluster_util import wait_until
from parallel_fixtures import own_cluster  # noqa: F401

pytestmark = pytest.mark.ensemble_only


def test_new_get_and_remove_clusters_by_key(tmp_path):
    from ensemble import cluster

    manager = cluster.ClusterManager()
    assert manager.clusters == {}
    key, made = manager.new_cluster(profile_dir=str(tmp_path))
    assert key == "%s:%s" % (tmp_path, made.cluster_id)
    assert made.profile_dir == str(tmp_path) and manager.get_cluster(key) is made
    with pytest.raises(KeyError):
        manager.get_cluster("nosuchcluster")
    with pytest.raises(KeyError):
        manager.new_cluster(cluster_id=made.cluster_id, profile_dir=made.profile_dir)
    assert list(manager.clusters) == [key]
    manager.remove_cluster(key)
    with pytest.raises(KeyError):
        manager.remove_cluster("nosuchcluster")


def _started_in_profile(own_cluster, monkeypatch, profile, cluster_id):
    """A one-engine cluster started in IPYTHONDIR's profile_PROFILE (a profile directory
    inside IPYTHONDIR is named by its profile in a ClusterManager key); (it, profile_dir)."""
    c = own_cluster(n=1, cluster_id=cluster_id)
    ipython_dir = os.path.dirname(c.profile_dir)
    monkeypatch.setenv("IPYTHONDIR", ipython_dir)
    profile_dir = c.profile_dir = os.path.join(ipython_dir, "profile_" + profile)
    c.cluster = ipp.Cluster(n=1, profile_dir=profile_dir, cluster_id=cluster_id)
    c.start_and_connect()
    return c, profile_dir


@pytest.mark.deadline(60)
def test_load_clusters_finds_a_running_cluster_that_connects_and_forgets_it_once_stopped(own_cluster,
                                                                                           monkeypatch):
    c, profile_dir = _started_in_profile(own_cluster, monkeypatch, "x", "listed")
    stale = os.path.join(profile_dir, "security", "cluster-killed-long-ago.json")
    with open(stale, "w") as f:
        f.write('{"cluster_id": "killed-long-ago", "controller_pid": 999999999, "engine_pids": []}')

    manager = ipp.ClusterManager()
    clusters = manager.load_clusters()
    assert list(clusters) == ["x:listed"], "the running cluster, and not the stale file"
    found = clusters["x:listed"]
    assert found.cluster_id == "listed" and found.profile_dir == profile_dir
    client = found.connect_client_sync()
    try:
        client.wait_for_engines(1, timeout=20)
        assert client[0].apply_sync(lambda: 6 * 7) == 42
    finally:
        client.close()
    assert manager.load_clusters(profile="x") == clusters, "loading again keeps the same object"
    assert manager.load_clusters()["x:listed"] is found
    c.stop()
    assert wait_until(lambda: "x:listed" not in manager.load_clusters(), 10)


@pytest.mark.deadline(60)
def test_cluster_from_a_file_takes_the_files_id_and_profile(own_cluster):
    c = own_cluster(n=1, cluster_id="fromfile")
    c.start_and_connect()
    again = ipp.Cluster.from_file(c.cluster.cluster_file)
    assert again.cluster_id == "fromfile" and again.profile_dir == c.profile_dir
    client = again.connect_client_sync()
    try:
        client.wait_for_engines(1, timeout=20)
        assert client.ids == [0]
    finally:
        client.close()


@pytest.mark.deadline(120)
def test_a_cluster_file_ipyparallel_wrote_is_read_and_not_listed_as_ours(own_cluster, monkeypatch, caplog):
    import ipyparallel

    _, profile_dir = _started_in_profile(own_cluster, monkeypatch, "shared", "ours")
    # a user's earlier ipyparallel cluster in the same profile, running
    theirs = ipyparallel.Cluster(n=1, profile_dir=profile_dir, cluster_id="theirs", log_level=40)
    theirs.start_cluster_sync()
    try:
        read = ipp.Cluster.from_file(theirs.cluster_file)
        assert read.cluster_id == "theirs" and read.profile_dir == profile_dir and read.n == 1
        assert read.controller.pid == theirs.controller.process.pid
        engine_pids = [pid for s in read.engines.values() for pid in s.pids]
        assert len(engine_pids) == 1 and engine_pids[0] > 0
        with caplog.at_level("WARNING"):
            clusters = ipp.ClusterManager().load_clusters()
        assert list(clusters) == ["shared:ours"], "ipyparallel's cluster is not one this can run"
        assert not [r for r in caplog.records if "Failed to load" in r.getMessage()]
    finally:
        theirs.stop_cluster_sync()


@pytest.mark.deadline(90)
def test_controller_args_in_ipcontrollers_spelling_set_the_controllers_scheme_and_hwm(own_cluster):
    c = own_cluster(n=2)
    c.cluster = ipp.Cluster(n=2, profile_dir=c.profile_dir, cluster_id=c.cluster_id,
                            controller_args=["--scheme=lru", "--TaskScheduler.hwm=1", "--nodb"])
    rc = c.start_and_connect()
    with open("/proc/%d/cmdline" % c.cluster.controller.pid, "rb") as f:
        argv = f.read().decode().split("\0")
    assert argv[argv.index("--scheme") + 1] == "lru" and argv[argv.index("--hwm") + 1] == "1"
    assert argv[argv.index("--db") + 1] == "memory"
    view = rc.load_balanced_view()
    assert view.map_sync(lambda x: x * 2, range(8)) == list(range(0, 16, 2))

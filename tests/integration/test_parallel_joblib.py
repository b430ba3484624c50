"""joblib on an Ensemble cluster: ``view.register_joblib_backend(name)`` and
``ipp.register_joblib_backend()``, as in ipyparallel."""

import json
import os

import pytest

import ensemble as ipp
from parallel_fixtures import cluster_pids, kill_left_over, left_running, rc, started  # noqa: F401

joblib = pytest.importorskip("joblib")
pytestmark = pytest.mark.ensemble_only


def neg(x):
    return -x


def getpid(_):
    import os

    return os.getpid()


@pytest.mark.deadline(60)
def test_a_view_registered_as_a_joblib_backend_runs_the_batches_on_its_engines(rc):
    view = rc.load_balanced_view()
    view.register_joblib_backend("ensemble-view")
    parallel = joblib.Parallel(backend="ensemble-view")
    assert parallel._backend._view is view
    assert parallel(joblib.delayed(neg)(i) for i in range(10)) == [-i for i in range(10)]
    pids = set(joblib.Parallel(backend="ensemble-view")(joblib.delayed(getpid)(i) for i in range(20)))
    assert pids <= set(rc[:].apply_sync(os.getpid)) and os.getpid() not in pids
    assert not rc._closed, "a view's owner keeps its client after joblib is done"


@pytest.mark.deadline(90)
def test_the_default_backend_starts_a_cluster_when_none_runs_and_stops_it_after(tmp_path, monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    ipp.register_joblib_backend()
    security = tmp_path / "profile_default" / "security"

    def during(x):
        import os

        return os.getpid()

    result = joblib.Parallel(backend="ipyparallel")(joblib.delayed(during)(i) for i in range(4))
    assert os.getpid() not in result
    assert not (security / "cluster.json").exists() and not any(security.glob("cluster-*.json")), \
        "the cluster the backend started is stopped when joblib is done with it"
    assert not left_running(set(result))


@pytest.mark.deadline(90)
def test_the_default_backend_uses_the_default_cluster_that_runs_and_leaves_it_running(tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    cluster = ipp.Cluster(n=2, cluster_id="")
    client = cluster.start_and_connect_sync()
    with open(cluster.cluster_file) as f:
        pids = cluster_pids(json.load(f))
    try:
        engine_pids = set(client[:].apply_sync(os.getpid))
        ipp.register_joblib_backend("ensemble-default")
        result = joblib.Parallel(backend="ensemble-default")(joblib.delayed(neg)(i) for i in range(6))
        assert result == [-i for i in range(6)]
        found = joblib.Parallel(backend="ensemble-default")(joblib.delayed(getpid)(i) for i in range(6))
        assert set(found) <= engine_pids
        assert client[:].apply_sync(lambda: "still running") == ["still running"] * 2
    finally:
        client.close()
        cluster.stop_cluster_sync()
        kill_left_over(pids)


def test_a_client_can_be_made_after_its_new_was_patched_and_restored(started):
    # what ipyparallel's own joblib test does to hand joblib its client
    from unittest import mock

    with mock.patch.object(ipp.Client, "__new__", lambda *args, **kwargs: started.client):
        assert ipp.Client.__new__(ipp.Client) is started.client
    other = ipp.Client(started.client_file)
    try:
        assert other.ids == started.client.ids
    finally:
        other.close()


@pytest.mark.deadline(60)
def test_the_default_name_registers_ensemble_too_and_ipyparallels_module_path_has_the_backend(rc):
    from ensemble.client._joblib import IPythonParallelBackend

    view = rc.load_balanced_view()
    view.register_joblib_backend()
    for name in ("ipyparallel", "ensemble"):
        parallel = joblib.Parallel(backend=name)
        assert isinstance(parallel._backend, IPythonParallelBackend)
        assert parallel._backend._view is view
        assert parallel(joblib.delayed(neg)(i) for i in range(3)) == [0, -1, -2]
    other = rc.load_balanced_view()
    other.register_joblib_backend("only-this-name")  # a name of its own leaves "ensemble" as it was
    assert joblib.Parallel(backend="only-this-name")._backend._view is other
    assert joblib.Parallel(backend="ensemble")._backend._view is view


@pytest.mark.deadline(60)
def test_make_default_makes_ipyparallel_joblibs_default_backend(rc):
    from joblib import parallel as joblib_parallel

    view = rc.load_balanced_view()
    before = joblib_parallel.DEFAULT_BACKEND
    try:
        view.register_joblib_backend(make_default=True)
        assert joblib_parallel.DEFAULT_BACKEND == "ipyparallel"
        parallel = joblib.Parallel()
        assert parallel._backend._view is view
        assert parallel(joblib.delayed(neg)(i) for i in range(3)) == [0, -1, -2]
    finally:
        joblib_parallel.DEFAULT_BACKEND = before

"""LoadBalancedView through the controller's scheduler: spreading, dependencies, require,
timeouts, aborts and retries when an engine dies (docs/parallel-protocol.md, "Load-balanced
tasks")."""

import os
import signal
import time

import pytest

import ensemble as ipp
from cluster_util import LocalCluster, running, wait_until

pytestmark = pytest.mark.ensemble_only


@pytest.fixture
def cluster(tmp_path):
    made = []

    def _make(n=2, **flags):
        """A cluster started by `ensemble cluster start` (scheme and hwm are the
        controller's flags), and an ipyparallel-style Client on it."""
        extra = [arg for name, value in flags.items() for arg in ("--" + name, str(value))]
        local = LocalCluster(tmp_path / ("c%d" % len(made)), n, cluster_id="lb%d" % len(made), extra=extra)
        made.append(local)
        rc = ipp.Client(url_file=str(local.file("ipcontroller-client")))
        local.api_clients = [rc]
        rc.wait_for_engines(n, timeout=30)
        return rc

    yield _make
    for local in made:
        for rc in local.api_clients:
            rc.close()
        local.stop()


def engine_pids(rc):
    return dict(zip(rc.ids, rc[:].apply_sync(os.getpid)))


@pytest.mark.deadline(60)
def test_tasks_spread_over_every_engine_and_map_keeps_order(cluster):
    rc = cluster(n=2)
    lv = rc.load_balanced_view()
    assert lv.apply_sync(lambda: 6 * 7) == 42
    ars = [lv.apply_async(time.sleep, 0.05) for _ in range(8)]
    assert {ar.get(10) or ar.engine_id for ar in ars} == set(rc.ids)
    assert lv.map_sync(lambda x: x * x, range(50)) == [x * x for x in range(50)]


@pytest.mark.deadline(60)
def test_a_maps_chunks_are_in_the_views_history_and_outstanding_until_the_map_is_done(cluster):
    rc = cluster(n=2)
    lv = rc.load_balanced_view()
    ar = lv.map_async(time.sleep, [0.2] * 4)
    assert lv.history[-4:] == ar.msg_ids and set(ar.msg_ids) <= lv.outstanding
    assert lv.wait(timeout=10) and ar.ready()
    assert ar.get() == [None] * 4 and not lv.outstanding
    with lv.temp_flags(retries=1):  # the flags a map's chunks go with are the view's
        assert lv.map_sync(lambda x: -x, range(3)) == [0, -1, -2]
    records = rc.db_query({"msg_id": {"$in": lv.history[-3:]}}, keys=["metadata"])
    assert len(records) == 3 and all(r["metadata"]["retries"] == 1 for r in records), records


@pytest.mark.deadline(60)
def test_after_waits_for_its_dependency_and_follow_runs_where_it_ran(cluster):
    rc = cluster(n=2)
    lv = rc.load_balanced_view()
    first = lv.apply_async(time.sleep, 0.4)
    with lv.temp_flags(after=first, follow=first):
        second = lv.apply_async(time.time)
    finished_second = second.get(10)
    first.get(10)
    assert second.engine_id == first.engine_id
    assert finished_second >= time.time() - 5 and second.metadata["started"] >= first.metadata["completed"]


@pytest.mark.deadline(60)
def test_a_failed_dependency_makes_a_success_only_task_impossible(cluster):
    rc = cluster(n=2)
    lv = rc.load_balanced_view()
    failing = lv.apply_async(lambda: 1 / 0)
    with lv.temp_flags(after=failing):
        dependent = lv.apply_async(lambda: "never")
    with pytest.raises(ipp.RemoteError) as info:
        dependent.get(10)
    assert info.value.ename == "ImpossibleDependency"
    # failure=True accepts it
    with lv.temp_flags(after=ipp.Dependency([failing.msg_ids[0]], success=False, failure=True)):
        assert lv.apply_sync(lambda: "ran after a failure") == "ran after a failure"


@pytest.mark.deadline(60)
def test_require_that_no_engine_meets_fails_instead_of_waiting_forever(cluster):
    rc = cluster(n=2)
    lv = rc.load_balanced_view()

    @ipp.require("ensemble_no_such_module")
    def needs_it():
        return "impossible"

    started = time.monotonic()
    with pytest.raises(ipp.RemoteError) as info:
        lv.apply_sync(needs_it)
    assert info.value.ename == "ImpossibleDependency"
    assert time.monotonic() - started < 10

    @ipp.require("json")
    def has_it():
        return "fine"

    assert lv.apply_sync(has_it) == "fine"


@pytest.mark.deadline(60)
def test_hwm_holds_tasks_in_the_controller_where_timeout_and_abort_reach_them(cluster):
    rc = cluster(n=1, hwm=1)
    lv = rc.load_balanced_view()
    busy = lv.apply_async(time.sleep, 1.5)
    with lv.temp_flags(timeout=0.3):
        late = lv.apply_async(lambda: "too late")
    queued = lv.apply_async(lambda: "aborted before it ran")
    time.sleep(0.1)
    assert rc.queue_status()["unassigned"] == 2
    verbose = rc.queue_status(verbose=True)
    assert sorted(verbose["unassigned"]) == sorted(late.msg_ids + queued.msg_ids)
    assert verbose[0]["tasks"] == busy.msg_ids and verbose[0]["queue"] == []
    with pytest.raises(ipp.RemoteError) as info:
        late.get(10)
    assert info.value.ename == "TaskTimeout"
    # the scheduler's failure names no engine, as ipyparallel's (engine_info {})
    assert info.value.engine_info.get("engine_id") is None
    assert late.metadata["engine_id"] is None
    lv.abort(queued)
    with pytest.raises(ipp.error.TaskAborted):
        queued.get(10)
    busy.get(10)
    assert rc.queue_status()["unassigned"] == 0
    assert rc.queue_status(verbose=True)["unassigned"] == []


@pytest.mark.deadline(120)
def test_sigkill_of_an_engine_under_queued_tasks_with_retries_loses_nothing(cluster):
    rc = cluster(n=2)
    lv = rc.load_balanced_view()
    pids = engine_pids(rc)
    with lv.temp_flags(retries=1):
        ars = [lv.apply_async(lambda i: i, i) for i in range(2000)]
    os.kill(pids[1], signal.SIGKILL)
    results = [ar.get(60) for ar in ars]
    assert results == list(range(2000))
    assert not running(pids[1])


@pytest.mark.deadline(120)
def test_sigkill_without_retries_ends_every_task_as_a_result_or_engine_error(cluster):
    rc = cluster(n=2)
    lv = rc.load_balanced_view()
    pids = engine_pids(rc)
    ars = [lv.apply_async(time.sleep, 0.001) for _ in range(500)]
    os.kill(pids[0], signal.SIGKILL)
    outcomes = {"ok": 0, "EngineError": 0}
    for ar in ars:
        try:
            ar.get(60)
            outcomes["ok"] += 1
        except ipp.RemoteError as e:
            assert e.ename == "EngineError", e
            outcomes["EngineError"] += 1
    assert sum(outcomes.values()) == 500


@pytest.mark.deadline(60)
def test_queue_status_counts_a_balanced_task_under_its_engines_tasks_and_a_direct_one_under_queue(cluster):
    rc = cluster(n=1)
    balanced = rc.load_balanced_view().apply_async(time.sleep, 1.0)
    direct = rc[0].apply_async(time.sleep, 0)
    assert wait_until(lambda: rc.queue_status()[0] == {"queue": 1, "tasks": 1, "completed": 0}, 5), rc.queue_status()
    verbose = rc.queue_status(verbose=True)[0]
    assert verbose["tasks"] == balanced.msg_ids and verbose["queue"] == direct.msg_ids
    direct.get(10), balanced.get(10)
    assert rc.queue_status()[0] == {"queue": 0, "tasks": 0, "completed": 2}



def _pid_is(wanted):
    import os

    return os.getpid() == wanted


@pytest.mark.deadline(60)
def test_depend_runs_a_task_only_where_its_check_holds_and_the_function_stays_callable_here(cluster):
    rc = cluster(n=2)
    second = rc[1].apply_sync(os.getpid)

    @ipp.depend(_pid_is, second)
    def where():
        import os

        return os.getpid()

    assert where() == os.getpid()  # called here it is just the function: no check
    assert ipp.dependent(lambda x: x + 1, _pid_is, -1)(1) == 2
    lv = rc.load_balanced_view()
    ars = [lv.apply_async(where) for _ in range(6)]
    assert [ar.get(10) for ar in ars] == [second] * 6

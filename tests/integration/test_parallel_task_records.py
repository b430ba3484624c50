"""A task's record as the controller keeps it, field by field as ipyparallel's hub keeps
it, and the purges and queries around it (probe suite G found each difference)."""

import os
import time

import pytest

import ensemble as ipp
from cluster_util import wait_until
from parallel_fixtures import rc, started  # noqa: F401

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]


def record_of(rc, ar):
    msg_id = ar.msg_ids[0]
    assert wait_until(lambda: rc.db_query({"msg_id": msg_id, "completed": {"$ne": None}}, keys=["msg_id"]), 10)
    [record] = rc.db_query({"msg_id": msg_id})
    return record


def test_a_load_balanced_tasks_targets_are_recorded_as_engine_uuids(rc):
    ar = rc.load_balanced_view(targets=[1]).apply_async(os.getpid)
    ar.get(10)
    assert record_of(rc, ar)["metadata"]["targets"] == [rc._engines[1]]
    assert ar.engine_id == 1


def test_a_load_balanced_task_without_a_timeout_records_zero(rc):
    ar = rc.load_balanced_view().apply_async(abs, -1)
    ar.get(10)
    assert record_of(rc, ar)["metadata"]["timeout"] == 0.0


def test_a_records_result_metadata_has_ipyparallels_keys(rc):
    ar = rc.load_balanced_view().apply_async(abs, -2)
    ar.get(10)
    record = record_of(rc, ar)
    result_metadata = record["result_metadata"]
    assert result_metadata["engine"] == record["engine_uuid"]
    assert result_metadata["dependencies_met"] is True
    assert (result_metadata["is_broadcast"], result_metadata["is_coalescing"]) == (False, False)
    assert result_metadata["original_msg_id"] == ""
    # an engine's session is its uuid: the reply's header names the engine that sent it
    assert record["result_header"]["session"] == record["engine_uuid"]


def test_a_broadcast_replys_metadata_names_the_broadcast(rc):
    ar = rc.broadcast_view().apply_async(abs, -3)
    assert ar.get(10) == [3, 3]
    for msg_id, md in zip(ar.msg_ids, ar.metadata):
        assert md["is_broadcast"] is True
        [record] = rc.db_query({"msg_id": msg_id}, keys=["result_metadata"])
        assert msg_id.startswith(record["result_metadata"]["original_msg_id"] + "_")


def test_a_records_submitted_time_is_the_clients(rc):
    ar = rc.load_balanced_view().apply_async(abs, -4)
    ar.get(10)
    record = record_of(rc, ar)
    assert record["submitted"] == ar.metadata["submitted"]


def _wait_for(path):
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.01)
    return "released"


def test_a_purge_naming_a_pending_task_is_an_index_error_and_purges_nothing(rc, tmp_path):
    gate = tmp_path / "release"
    ar = rc[0].apply_async(_wait_for, str(gate))
    try:
        # a direct request: the controller hears of it from the engine
        assert wait_until(lambda: rc.db_query({"msg_id": ar.msg_ids[0]}, keys=["msg_id"]), 10)
        with pytest.raises(ipp.RemoteError) as raised:
            rc.purge_hub_results(ar)
        assert raised.value.ename == "IndexError" and "pending" in str(raised.value)
        assert rc.db_query({"msg_id": ar.msg_ids[0]}, keys=["msg_id"])
    finally:
        gate.write_text("")
    assert ar.get(10) == "released"


def test_purge_everything_forgets_results_fetched_from_the_controller(rc):
    ar = rc[0].apply_async(abs, -5)
    ar.get(10)
    record_of(rc, ar)
    rc.result_status(ar.msg_ids)
    rc.get_result(ar.msg_ids[0]).get(10)
    rc.purge_everything()
    assert dict(rc.metadata) == {} and dict(rc.results) == {}


def test_queue_status_of_a_negative_target_is_that_engines(rc):
    assert set(rc.queue_status(targets=-1)) >= {"queue", "completed", "tasks"}
    assert rc.queue_status(targets=-1) == rc.queue_status(targets=rc.ids[-1])


@pytest.mark.parametrize("empty", [[], (), range(0)])
def test_an_asynchronous_map_over_nothing_is_a_finished_map_result(rc, empty):
    for view in (rc.load_balanced_view(), rc[:]):
        result = view.map_async(abs, empty)
        assert isinstance(result, ipp.AsyncMapResult)
        assert result.get(5) == [] and result.ready()
        assert view.map_sync(abs, empty) == []


def test_a_task_for_an_engine_uuid_no_engine_has_is_impossible(rc):
    from ensemble import serialize

    flags = dict(after=[], follow=[], timeout=0.0, retries=0, targets=["no-engine-has-this-uuid"])
    ar = ipp.AsyncResult(rc, rc.send_task(serialize.pack_apply(abs, (-1,), {}), flags))
    with pytest.raises(ipp.RemoteError) as raised:
        ar.get(10)
    assert raised.value.ename == "ImpossibleDependency"

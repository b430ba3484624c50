"""The controller's task store as clients see it: ``db_query``, ``resubmit`` and
``result_status`` (docs/parallel-protocol.md, "Task store")."""

import time

import pytest

import ensemble as ipp
from cluster_util import LocalCluster, wait_until
from parallel_fixtures import rc, started  # noqa: F401

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]


def _noisy(x):
    import sys

    print("out", x)
    print("err", x, file=sys.stderr)
    return x * 2


@pytest.fixture
def finished(rc):
    """Three finished tasks, one direct and two load-balanced."""
    lview = rc.load_balanced_view()
    ars = [rc[0].apply_async(_noisy, 1), lview.apply_async(_noisy, 2), lview.apply_async(_noisy, 3)]
    assert [ar.get(10) for ar in ars] == [2, 4, 6]
    return [ar.msg_ids[0] for ar in ars]


def test_db_query_returns_every_field_but_the_buffers_unless_keys_are_named(rc, finished):
    records = rc.db_query({"msg_id": {"$in": finished}})
    assert sorted(r["msg_id"] for r in records) == sorted(finished)
    for record in records:
        assert "buffers" not in record and "result_buffers" not in record
        assert record["submitted"] <= record["started"] <= record["completed"] <= record["received"]
        assert record["header"]["msg_type"] == "apply_request"
        assert record["result_content"]["status"] == "ok"
        assert record["engine_uuid"] in list(rc._engines.values())
    assert {r["msg_id"]: r["queue"] for r in records} == dict(zip(finished, ["mux", "task", "task"]))
    picked = rc.db_query({"msg_id": finished[0]}, keys=["completed"])
    assert len(picked) == 1 and set(picked[0]) == {"msg_id", "completed"}


def test_db_query_keeps_each_tasks_stdout_and_stderr(rc, finished):
    for record in rc.db_query({"msg_id": {"$in": finished}}, keys=["stdout", "stderr", "result_content"]):
        # outputs travel on iopub, beside the reply: they may land a moment later
        deadline = time.monotonic() + 5
        while "out" not in record["stdout"] and time.monotonic() < deadline:
            time.sleep(0.05)
            record = rc.db_query({"msg_id": record["msg_id"]}, keys=["stdout", "stderr"])[0]
        assert record["stdout"].startswith("out ") and record["stderr"].startswith("err ")


def test_db_query_returns_request_and_result_buffers_when_asked(rc):
    numpy = pytest.importorskip("numpy")
    payload = numpy.arange(100000, dtype="int64")  # its data travels as a frame of its own
    ar = rc[0].apply_async(lambda a: a[::-1].copy(), payload)
    assert (ar.get(10) == payload[::-1]).all()
    (record,) = rc.db_query({"msg_id": ar.msg_ids[0]}, keys=["buffers", "result_buffers"])
    assert any(bytes(b) == payload.tobytes() for b in record["buffers"])
    assert any(bytes(b) == payload[::-1].tobytes() for b in record["result_buffers"])


@pytest.mark.parametrize("route", ["load-balanced", "direct"])
def test_request_buffers_past_a_mebibyte_are_not_kept_and_resubmit_says_so(rc, route):
    numpy = pytest.importorskip("numpy")
    big = numpy.zeros(2 << 20, dtype="uint8")
    view = rc.load_balanced_view() if route == "load-balanced" else rc[0]
    ar = view.apply_async(lambda a: int(a.sum()), big)
    assert ar.get(10) == 0
    # a direct request's record comes from its engine's copy, which leaves such buffers out
    assert wait_until(lambda: rc.db_query({"msg_id": ar.msg_ids[0]}, keys=["completed"]), 5)
    (record,) = rc.db_query({"msg_id": ar.msg_ids[0]}, keys=["buffers", "result_content"])
    assert record["buffers"] == [] and record["result_content"]["status"] == "ok"
    with pytest.raises(ipp.RemoteError) as refused:
        rc.resubmit(ar.msg_ids)
    assert "too large to keep" in str(refused.value)
    assert rc.get_result(ar.msg_ids[0]).get(10) == 0, "the result itself is kept"


def test_db_query_compares_dates_and_msg_ids_with_mongodb_operators(rc, finished):
    history = rc.hub_history()
    middle = rc.db_query({"msg_id": history[len(history) // 2]})[0]["submitted"]
    before = rc.db_query({"submitted": {"$lt": middle}}, keys="submitted")
    after = rc.db_query({"submitted": {"$gte": middle}}, keys="submitted")
    assert len(before) + len(after) == len(history)
    assert all(r["submitted"] < middle for r in before) and all(r["submitted"] >= middle for r in after)
    assert [r["submitted"] for r in rc.db_query({"submitted": middle})] == [middle]
    odd = rc.db_query({"msg_id": {"$nin": history[::2]}}, keys=[])
    assert sorted(r["msg_id"] for r in odd) == sorted(history[1::2])


def test_a_bad_query_is_a_clear_remote_error_and_the_controller_keeps_serving(rc):
    with pytest.raises(ipp.RemoteError) as bad_key:
        rc.db_query({}, keys=["no_such_key"])
    assert (bad_key.value.ename, bad_key.value.evalue) == ("KeyError", "'no_such_key'")  # as ipyparallel's
    with pytest.raises(ipp.RemoteError) as bad_op:
        rc.db_query({"msg_id": {"$near": 1}})
    assert "$near" in str(bad_op.value)
    with pytest.raises(ipp.RemoteError) as not_a_dict:
        rc.db_query(["msg_id"])
    assert not_a_dict.value.ename == "ValueError"
    reply = rc._send_recv("resubmit_request", {"msg_ids": "not a list"})
    assert reply["content"]["status"] == "error"
    assert rc[0].apply_sync(lambda: "still here") == "still here"


def test_resubmit_runs_a_task_again_under_a_new_msg_id_keeping_its_header(rc):
    def draw():
        import random

        return random.random()

    lview = rc.load_balanced_view()
    lview.retries = 1
    first = lview.apply_async(draw)
    r1 = first.get(10)
    again = rc.resubmit(first.msg_ids)
    (r2,) = again.get(10)  # an AsyncHubResult over a list of msg_ids, as in ipyparallel
    assert r2 != r1 and again.msg_ids != first.msg_ids
    records = rc.db_query({"msg_id": {"$in": first.msg_ids + again.msg_ids}}, keys=["header", "resubmitted"])
    (old,) = [r for r in records if r["msg_id"] == first.msg_ids[0]]
    (new,) = [r for r in records if r["msg_id"] == again.msg_ids[0]]
    assert old["resubmitted"] == new["msg_id"]
    for key in set(old["header"]) | set(new["header"]):
        assert (old["header"][key] != new["header"][key]) == (key in ("msg_id", "date")), key
    chained = rc.resubmit(again.msg_ids)  # a resubmitted task resubmits too
    assert isinstance(chained.get(10)[0], float)


def test_resubmit_of_a_task_still_running_gives_a_second_result(rc):
    running = rc.load_balanced_view().apply_async(time.sleep, 0.5)
    time.sleep(0.1)
    again = rc.resubmit(running.msg_ids)
    running.get(5)
    again.get(5)


def test_resubmit_of_an_unknown_msg_id_is_a_remote_key_error(rc):
    with pytest.raises(ipp.RemoteError) as raised:
        rc.resubmit(["no-such-task"])
    assert raised.value.ename == "KeyError"


def test_result_status_reports_another_clients_tasks_as_pending_or_completed(rc, started):
    done = rc[0].apply_async(lambda: 1)
    done.get(10)
    slow = rc[1].apply_async(time.sleep, 1)
    other = ipp.Client(url_file=started.client_file)
    try:
        status = other.result_status(done.msg_ids + slow.msg_ids, status_only=False)
        assert status["completed"] == done.msg_ids and status["pending"] == slow.msg_ids
        assert status[done.msg_ids[0]] == 1
        assert status["status"] == "ok"  # the controller was asked: its answer's status, as ipyparallel
        # its owner let go of the result, so the controller is asked, as in ipyparallel...
        assert rc.result_status(done.msg_ids)["status"] == "ok"
        assert rc.get_result(done.msg_ids, owner=False).get(5) == [1]  # ...until it is kept here
        assert "status" not in rc.result_status(done.msg_ids)  # known here: nobody was asked
    finally:
        other.close()
    slow.get(5)


def test_result_status_raises_the_failures_the_controller_tells_about_as_ipyparallel(rc, started):
    def fail(n):
        raise ValueError(n)

    failed = [rc[i].apply_async(fail, i) for i in (0, 1)]
    fine = rc[0].apply_async(lambda: 2)
    for ar in failed + [fine]:
        ar.wait(10)
    failed_ids = [ar.msg_ids[0] for ar in failed]
    clients = [ipp.Client(url_file=started.client_file) for _ in range(2)]
    try:
        other, third = clients
        assert other.result_status(failed_ids)["completed"] == failed_ids  # status only: no raise
        with pytest.raises(ipp.CompositeError) as several:
            other.result_status(failed_ids + fine.msg_ids, status_only=False)
        assert sorted(e[0] for e in several.value.elist) == ["ValueError", "ValueError"]
        # now cached there: a cached failure is a value, not raised (as ipyparallel)
        status = other.result_status(failed_ids, status_only=False)
        assert isinstance(status[failed_ids[0]], ipp.RemoteError)
        with pytest.raises(ipp.RemoteError) as one:
            third.result_status(failed_ids[:1], status_only=False)
        assert one.value.ename == "ValueError" and not isinstance(one.value, ipp.CompositeError)
    finally:
        for client in clients:
            client.close()
    # the submitting client's AsyncResults own theirs (not in rc.results): raised there too
    with pytest.raises(ipp.CompositeError):
        rc.result_status(failed_ids, status_only=False)


@pytest.mark.deadline(90)
def test_an_in_memory_store_answers_db_query_and_resubmit(tmp_path):
    local = LocalCluster(tmp_path / "c", 1, cluster_id="memstore", extra=["--db", "memory"])
    client = None
    try:
        client = ipp.Client(url_file=str(local.file("ipcontroller-client")))
        client.wait_for_engines(1, timeout=30)
        ar = client.load_balanced_view().apply_async(lambda: 5)
        assert ar.get(10) == 5
        assert [r["msg_id"] for r in client.db_query({"msg_id": ar.msg_ids[0]})] == ar.msg_ids
        assert client.resubmit(ar.msg_ids).get(10) == [5]
        assert not list(tmp_path.rglob("*.sqlite")), "'memory' writes no file"
    finally:
        if client is not None:
            client.close()
        local.stop()


def test_results_the_controller_let_go_of_come_back_whole_from_the_store(rc, started):
    # 12 results of 600 KB: past the 2 MiB of replies the controller keeps in memory beside
    # the store's copy, so the first ones are read back from the SQLite file when asked for
    ars = [rc[0].apply_async(lambda i: bytes([i]) * 600_000, i) for i in range(12)]
    assert [ar.get(20)[:1] for ar in ars] == [bytes([i]) for i in range(12)]
    time.sleep(1.5)  # the store writes in batches; the controller lets go at its next tick
    other = ipp.Client(url_file=started.client_file)
    try:
        first = other.get_result(ars[0].msg_ids[0]).get(10)
        assert first == bytes([0]) * 600_000
        assert other.get_result(ars[-1].msg_ids[0]).get(10) == bytes([11]) * 600_000
        assert other.result_status(ars[0].msg_ids)["completed"] == ars[0].msg_ids
    finally:
        other.close()

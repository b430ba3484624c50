"""Results asked for by msg_id from a client other than the one that sent the task: what
get_result, resubmit and result_status give there, as ipyparallel 7.1 gives it."""

import time

import pytest

import ensemble as ipp
from parallel_fixtures import rc, started  # noqa: F401

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]


@pytest.fixture
def other(started):
    client = ipp.Client(url_file=started.client_file)
    yield client
    client.close()


def _fail():
    return 1 / 0


def _noisy(x):
    import sys

    print("out", x)
    print("err", x, file=sys.stderr)
    return x


def _nap(seconds):
    import time

    time.sleep(seconds)
    return seconds


@pytest.fixture
def failed(rc):
    ar = rc.load_balanced_view().apply_async(_fail)
    with pytest.raises(ipp.RemoteError):
        ar.get(10)
    return ar.msg_ids[0]


def test_get_result_of_a_list_of_one_failed_msg_id_raises_its_remote_error(other, failed):
    for asked in (failed, [failed]):
        with pytest.raises(ipp.RemoteError) as raised:
            other.get_result(asked).get(10)
        assert not isinstance(raised.value, ipp.CompositeError)
        assert raised.value.ename == "ZeroDivisionError"


def test_resubmit_of_one_failed_task_raises_its_remote_error(rc, failed):
    for asked in (failed, [failed]):
        with pytest.raises(ipp.RemoteError) as raised:
            rc.resubmit(asked).get(10)
        assert not isinstance(raised.value, ipp.CompositeError)
        assert raised.value.ename == "ZeroDivisionError"


def test_get_result_of_two_failed_tasks_raises_a_composite_error(other, rc):
    lview = rc.load_balanced_view()
    ars = [lview.apply_async(_fail) for _ in range(2)]
    for ar in ars:
        with pytest.raises(ipp.RemoteError):
            ar.get(10)
    with pytest.raises(ipp.CompositeError) as raised:
        other.get_result([ar.msg_ids[0] for ar in ars]).get(10)
    assert [e[0] for e in raised.value.elist] == ["ZeroDivisionError"] * 2


def test_a_second_client_gets_a_tasks_stdout_and_stderr_with_its_result(rc, other):
    ar = rc.load_balanced_view().apply_async(_noisy, 7)
    assert ar.get(10) == 7
    # the controller has the outputs once they came in on iopub, beside the reply
    deadline = time.monotonic() + 5
    while "out 7" not in rc.db_query({"msg_id": ar.msg_ids[0]}, keys=["stdout"])[0]["stdout"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    fetched = other.get_result(ar.msg_ids[0])
    assert fetched.get(10) == 7
    assert fetched.stdout == "out 7\n" and fetched.metadata["stdout"] == "out 7\n"
    assert fetched.stderr == "err 7\n"


def test_result_status_from_a_second_client_sees_a_task_finish_as_soon_as_it_has(rc, other):
    lview = rc.load_balanced_view()
    for _ in range(6):
        ar = lview.apply_async(_nap, 0.5)
        assert other.result_status(ar.msg_ids) == {"status": "ok", "pending": ar.msg_ids, "completed": []}
        ar.get(10)
        assert other.result_status(ar.msg_ids) == {"status": "ok", "pending": [], "completed": ar.msg_ids}


def test_result_status_answers_from_the_cache_only_when_it_holds_every_result(rc, other):
    ar = rc[0].apply_async(_nap, 0)
    ar.get(10)
    # a view's AsyncResult owns its result: the client keeps none, and asks the controller
    assert "status" in rc.result_status(ar.msg_ids)
    kept = rc.get_result(ar.msg_ids[0], owner=False)
    kept.get(10)
    assert rc.result_status(ar.msg_ids, status_only=False) == {
        "pending": [], "completed": ar.msg_ids, ar.msg_ids[0]: 0}
    # another client asking about status only keeps nothing: it asks again each time
    assert other.result_status(ar.msg_ids)["status"] == "ok"
    assert other.result_status(ar.msg_ids)["status"] == "ok"

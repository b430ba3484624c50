"""Per-task futures stay light (client/futures.py): few objects for the garbage
collector, no reference cycles once resolved, and finished owned requests let
go, while behaving as concurrent.futures.Future everywhere the standard
library looks."""

import asyncio
import concurrent.futures
import gc
import subprocess
import sys
import threading
import weakref

import pytest

from ensemble.client.futures import LightFuture, MessageFuture, when_all


def _tracked_objects_per(make, n=500):
    gc.collect()
    keep = []
    before = len(gc.get_objects())
    for _ in range(n):
        keep.append(make())
    return (len(gc.get_objects()) - before - 1) / n


def test_a_light_future_is_a_few_objects_for_the_garbage_collector():
    assert _tracked_objects_per(concurrent.futures.Future) >= 10  # what it replaces
    assert _tracked_objects_per(LightFuture) <= 1.05  # itself: its condition comes when waited on
    assert _tracked_objects_per(lambda: MessageFuture("m", {})) <= 2.05  # and its output signal
    waited = LightFuture()
    assert waited._cond is None
    with pytest.raises(concurrent.futures.TimeoutError):
        waited.result(0.01)
    assert waited._cond is not None  # waiting made it


def test_a_light_future_works_with_wait_as_completed_and_asyncio():
    futures = [LightFuture() for _ in range(3)]
    threading.Timer(0.05, futures[1].set_result, args=("one",)).start()
    done, pending = concurrent.futures.wait(futures, timeout=5,
                                            return_when=concurrent.futures.FIRST_COMPLETED)
    assert done == {futures[1]} and len(pending) == 2
    futures[0].set_exception(ValueError("zero"))
    futures[2].set_result("two")
    assert len(list(concurrent.futures.as_completed(futures, timeout=5))) == 3
    cancelled = LightFuture()
    assert cancelled.cancel()
    # as an executor does: waiters hear of a cancellation here (the waiter list is made on demand)
    threading.Timer(0.05, cancelled.set_running_or_notify_cancel).start()
    done, _ = concurrent.futures.wait([cancelled], timeout=5)
    assert done == {cancelled} and cancelled.cancelled()

    async def awaited():
        later = LightFuture()
        asyncio.get_running_loop().call_later(0.02, later.set_result, 42)
        return await asyncio.wrap_future(later)

    assert asyncio.run(awaited()) == 42


def test_a_light_future_times_out_wakes_waiters_and_reports_exceptions():
    future = LightFuture()
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0.01)
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0)
    waiters = [threading.Thread(target=future.exception, args=(5,)) for _ in range(3)]
    for thread in waiters:
        thread.start()
    future.set_exception(KeyError("k"))
    for thread in waiters:
        thread.join(5)
        assert not thread.is_alive()
    assert isinstance(future.exception(), KeyError)


def test_callbacks_run_once_and_are_let_go_after_resolution():
    future, calls = LightFuture(), []
    future.add_done_callback(calls.append)
    future.set_result(1)
    assert calls == [future] and not future._done_callbacks  # no cycle left through them
    future.add_done_callback(calls.append)  # already done: called at once
    assert calls == [future, future]


def test_when_all_calls_back_once_when_the_last_future_finishes_in_any_order():
    futures = [LightFuture() for _ in range(3)]
    calls = []
    when_all(futures, lambda: calls.append(1))
    futures[2].set_result(None)
    futures[0].set_exception(ValueError("remote"))
    assert calls == []
    futures[1].set_result(None)
    assert calls == [1]


def test_when_all_of_futures_already_done_calls_back_at_once_and_of_threads_once():
    done = [LightFuture() for _ in range(2)]
    for f in done:
        f.set_result(None)
    calls = []
    when_all(done, lambda: calls.append("now"))
    assert calls == ["now"]
    many = [LightFuture() for _ in range(200)]
    when_all(many, lambda: calls.append("threads"))
    threads = [threading.Thread(target=f.set_result, args=(None,)) for f in many]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["now", "threads"]


def test_a_finished_owned_request_is_let_go_without_a_garbage_collection(rc):
    view = rc.load_balanced_view()
    ar = view.apply_async(lambda: 5)
    assert ar.get(10) == 5 and ar.wait_for_output(10)
    msg_id = ar.msg_ids[0]
    assert msg_id not in rc._futures and msg_id not in rc.results
    assert msg_id not in view.outstanding
    gone = weakref.ref(ar)
    gc.disable()
    try:
        del ar
        assert gone() is None, "a reference cycle keeps a finished AsyncResult alive"
    finally:
        gc.enable()
    assert rc.get_result(msg_id).get(10) == 5  # asked of the controller again


def test_a_kept_request_stays_known_to_the_client(rc):
    ar = rc[0].apply_async(lambda: 6)
    assert ar.get(10) == 6
    kept = rc.get_result(ar.msg_ids, owner=False)
    assert kept.get(10) == [6]
    assert ar.msg_ids[0] in rc._futures


def test_importing_the_client_does_not_import_ipython():
    code = ("import sys, ensemble, ensemble.client.client, ensemble.client.lbview; "
            "assert 'IPython' not in sys.modules, 'IPython imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

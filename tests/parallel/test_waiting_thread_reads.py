"""A thread that waits for a result reads the client's events itself while the
event thread steps aside (events.py, EventThread.read_until); on the fake core."""

import threading
import time

import pytest


def _sleep_then(seconds, value):
    import time

    time.sleep(seconds)
    return value


def test_a_thread_waiting_for_a_result_reads_its_reply_itself_and_runs_its_callbacks(rc):
    ar = rc[0].apply_async(_sleep_then, 0.2, 5)
    ran_on = []
    ar.add_done_callback(lambda f: ran_on.append(threading.current_thread()))
    assert ar.get(5) == 5
    assert ran_on == [threading.current_thread()]


def test_results_nobody_waits_for_are_resolved_by_the_event_thread_once_a_waiter_has_left(rc):
    assert rc[0].apply_sync(_sleep_then, 0.05, 1) == 1  # a waiting thread led, and left
    ar = rc[1].apply_async(_sleep_then, 0.1, 3)
    ran_on, done = [], threading.Event()

    def callback(f):
        ran_on.append(threading.current_thread())
        done.set()

    ar.add_done_callback(callback)
    assert done.wait(5)  # an Event, not ar.wait(): nobody leads
    assert ran_on == [rc._events]


def test_several_threads_waiting_at_once_each_get_their_own_result(rc):
    results, errors = {}, []

    def wait_for(i):
        try:
            results[i] = rc[i % 4].apply_sync(_sleep_then, 0.02 * (i % 3), i)
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=wait_for, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors and results == {i: i for i in range(12)}


def test_a_wait_with_a_timeout_returns_in_time_and_a_later_wait_gets_the_result(rc):
    ar = rc[0].apply_async(_sleep_then, 0.5, 8)
    started = time.monotonic()
    assert not ar.wait(0.1)
    assert time.monotonic() - started < 0.4
    assert ar.get(5) == 8


def test_an_interrupt_while_a_waiting_thread_dispatches_loses_no_event(rc, monkeypatch):
    events = rc._events
    real_handle = events._handle
    armed = [True]

    def handle(event):
        # as a Ctrl-C lands: at a handler's first bytecode, on the main thread
        if armed[0] and event[0] in ("shell", "applied") and threading.current_thread() is threading.main_thread():
            armed[0] = False
            raise KeyboardInterrupt
        real_handle(event)

    monkeypatch.setattr(events, "_handle", handle)
    ar = rc[0].apply_async(_sleep_then, 0.2, 9)
    with pytest.raises(KeyboardInterrupt):
        ar.get(5)
    assert not armed[0]
    assert ar.get(5) == 9  # the interrupted reply was still dispatched
    assert rc[1].apply_sync(_sleep_then, 0, 4) == 4  # and the client goes on


def test_a_closed_client_leaves_a_waiting_thread_to_its_own_timeout(rc):
    ar = rc[0].apply_async(_sleep_then, 1.0, 2)
    closer = threading.Timer(0.1, rc.close)
    closer.start()
    started = time.monotonic()
    assert not ar.wait(0.6)
    assert time.monotonic() - started < 3
    closer.join()

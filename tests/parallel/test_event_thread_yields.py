"""While a thread submits requests back to back, the event thread leaves the
replies unread rather than take the GIL from it, for a bounded time
(turns.py, YIELD_SECONDS and MOST_YIELD_SECONDS); on the fake core."""

import time

from ensemble.client import turns


def _one():
    return 1


def _submit_for(view, seconds):
    """Submits a request each millisecond for ``seconds``; the AsyncResults, and
    how many were done at some point of the loop, counted after each submit."""
    ars, done_during = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ars.append(view.apply_async(_one))
        done_during = max(done_during, sum(ar.done() for ar in ars))
        time.sleep(0.001)
    return ars, done_during


def test_no_reply_is_read_while_a_thread_submits_back_to_back(rc, monkeypatch):
    monkeypatch.setattr(turns, "YIELD_SECONDS", 0.1)  # the loop's pauses are well within it
    monkeypatch.setattr(turns, "MOST_YIELD_SECONDS", 30.0)
    rc[0].apply_sync(_one)
    time.sleep(0.2)  # the event thread reads again (LINGER_SECONDS), nobody submits
    ars, done_during = _submit_for(rc[0], 0.3)
    # the first reply or two may be read: the event thread was already waiting for
    # events when the submitting began
    assert len(ars) > 50 and done_during <= 2, "the event thread read replies while the thread submitted"
    started = time.monotonic()
    assert all(ar.wait(5) for ar in ars)
    assert time.monotonic() - started < 2
    # read by the event thread: AsyncResult.wait led, but found them done or read them itself
    assert [ar.get() for ar in ars] == [1] * len(ars)


def test_a_thread_that_never_stops_submitting_still_has_its_replies_read(rc, monkeypatch):
    monkeypatch.setattr(turns, "YIELD_SECONDS", 0.1)
    monkeypatch.setattr(turns, "MOST_YIELD_SECONDS", 0.05)
    rc[0].apply_sync(_one)
    time.sleep(0.2)
    ars, done_during = _submit_for(rc[0], 0.5)
    assert done_during > 10, "the replies waited for the submitting to end"
    assert all(ar.wait(5) for ar in ars)


def _scaled_burst_rules(rc, monkeypatch, burst_seconds):
    """turns' burst rules, scaled up from the real values so that this machine's own
    pauses stay within them; then a request answered, and time for the event thread
    to read again."""
    # a stall of the submitting thread under YIELD_SECONDS is no pause (a CI run stalled one
    # for over 50 ms before its burst began, and the replies so far were read)
    monkeypatch.setattr(turns, "YIELD_SECONDS", 0.15)
    monkeypatch.setattr(turns, "BURST_SECONDS", burst_seconds)
    monkeypatch.setattr(turns, "BURST_PAUSE_SECONDS", 1.0)
    monkeypatch.setattr(turns, "MOST_YIELD_SECONDS", 30.0)
    rc[0].apply_sync(_one)
    time.sleep(0.2)


def test_a_pause_within_a_burst_of_submits_does_not_end_it(rc, monkeypatch):
    _scaled_burst_rules(rc, monkeypatch, burst_seconds=0.1)
    ars, _ = _submit_for(rc[0], 0.3)
    time.sleep(0.45)  # the submitting thread preempted: 3 times YIELD_SECONDS
    more, _ = _submit_for(rc[0], 0.05)
    done_during = sum(ar.done() for ar in ars + more)
    assert len(ars) > 20 and done_during <= 2, "the replies were read in a pause within the burst"
    assert all(ar.wait(5) for ar in ars + more)


def test_a_pause_after_a_short_burst_ends_it(rc, monkeypatch):
    _scaled_burst_rules(rc, monkeypatch, burst_seconds=0.5)
    ars, _ = _submit_for(rc[0], 0.1)  # shorter than BURST_SECONDS: no burst yet
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline and not all(ar.done() for ar in ars):
        time.sleep(0.005)
    assert all(ar.done() for ar in ars), "the replies were left unread after the submitting stopped"

"""Who reads a Client's events: its event thread, or a thread waiting for a result.

A reply that the event thread reads must then wake the thread waiting for it:
one more thread hand-over per round trip, a wake-up of an idle virtual CPU (30
to 60 µs here). So a thread that waits for a result (AsyncResult.wait and get,
Client.wait) reads and dispatches the events itself, as the leader, while the
event thread steps aside; the reply then wakes the thread that waits for it.
One thread reads at a time (``_read_lock``), so events are dispatched in the
order they arrived, and one thread at most leads: another waiting thread waits
as before, for its future, which the leader's reading resolves.

The event thread is told to step aside by ``Connection.interrupt()``, which
makes its wait return; after a leader leaves it waits LINGER_SECONDS for the
next before reading again, since a thread that waits for one result after
another (``apply_sync`` in a loop) leads again at once, and finding the event
thread aside, need not interrupt it.
"""

import logging
import threading
from threading import get_ident
from time import monotonic, sleep

log = logging.getLogger("ensemble.client")

POLL_SECONDS = 0.1
LEAD_CHECK_SECONDS = 0.001
LINGER_SECONDS = 0.001
# While a thread submits requests back to back (the last less than YIELD_SECONDS
# ago), the event thread leaves the replies in the socket rather than take the
# GIL from it, for at most MOST_YIELD_SECONDS at a time (then it reads one batch,
# and yields again): a loop of apply_async returns sooner, and the replies are
# read together after it.
YIELD_SECONDS = 0.0005
MOST_YIELD_SECONDS = 0.02
# Once a thread has submitted back to back for BURST_SECONDS, a pause of up to
# BURST_PAUSE_SECONDS does not end its burst: on a machine with more busy
# threads than CPUs (8 engines on 2 cores), the submitting thread is preempted
# for a time slice or two (3-10 ms) now and then. Reading the replies in such a
# pause held the GIL when it came back, and it waited out the reading of a batch.
BURST_SECONDS = 0.002
BURST_PAUSE_SECONDS = 0.01


def read_until(client, future, timeout):
    """Reads ``client``'s events on this thread until ``future`` is done or
    ``timeout`` seconds (None: no limit) have passed, if it can lead; returns
    what is left of the timeout, for the caller's own wait on ``future``."""
    if future.done():
        return timeout
    deadline = None if timeout is None else monotonic() + timeout
    client._events.read_until(future, timeout)
    return None if deadline is None else max(0.0, deadline - monotonic())


class TakingTurns:
    """Mixed into the EventThread, which provides ``_conn``, ``client``,
    ``stopping``, ``_dispatch(events)``, ``_handle(event)`` and the output
    deadlines."""

    def _init_turns(self):
        self._read_lock = threading.Lock()  # held by whichever thread reads and dispatches
        self._turn_lock = threading.Lock()
        self._turn = threading.Condition(self._turn_lock)
        self._leader = None  # the ident of the thread reading for itself, if any; under _turn
        self._led_since = self._left_at = 0.0  # monotonic; under _turn
        self._aside = False  # not reading: a leader need not interrupt it; under _turn

    def run(self):
        conn = self._conn
        yielding_since = None  # monotonic: since when this thread yields to a submitting one
        while not self.stopping:
            with self._turn:
                if self._stands_aside():
                    continue
            now = monotonic()
            last_submit = self.client._last_submit
            in_burst = yielding_since is not None and last_submit - yielding_since >= BURST_SECONDS
            quiet_at = last_submit + (BURST_PAUSE_SECONDS if in_burst else YIELD_SECONDS)
            if now < quiet_at:
                if yielding_since is None:
                    yielding_since = now
                if now - yielding_since < MOST_YIELD_SECONDS:
                    sleep(quiet_at - now)
                    continue
            yielding_since = None
            with self._read_lock:
                if self._leader is not None:
                    continue  # came while this thread took the lock
                try:
                    events = conn.next_events(POLL_SECONDS)
                except Exception:
                    log.exception("next_events failed; treating the controller as lost")
                    events = [("lost", -1, "", "", "", "", "", [])]
                self._dispatch(events)

    def _stands_aside(self):
        """Called under _turn: waits a moment (and returns True) while a thread
        leads, and for LINGER_SECONDS after one left. A leader that led for
        LEAD_CHECK_SECONDS or more notifies when it leaves; a shorter one does
        not (a futex wake-up on its way back to the user), so until then this
        thread looks again every LEAD_CHECK_SECONDS."""
        now = monotonic()
        if self._leader is not None:
            self._aside = True
            led = now - self._led_since
            self._turn.wait(LEAD_CHECK_SECONDS if led < LEAD_CHECK_SECONDS else POLL_SECONDS)
            return True
        if self._aside and now - self._left_at < LINGER_SECONDS:
            self._turn.wait(LINGER_SECONDS)
            return True
        self._aside = False
        return False

    def read_until(self, future, timeout=None):
        """Reads and dispatches events on the calling thread until ``future``
        is done or ``timeout`` seconds (None: no limit) have passed, while the
        event thread steps aside. Returns at once, leaving the waiting to the
        caller, when it cannot lead: another thread leads, the caller is the
        reading thread itself (a callback), or the client is closed or lost."""
        if future.done() or self.stopping or self.client._lost or (timeout is not None and timeout <= 0):
            return
        self._flush()  # a burst's requests held back (corked_sender.hpp) leave now: they are waited for
        me = get_ident()
        if me == self.ident:
            return
        # the Condition's own lock: entered from C, where `with self._turn` is two Python calls
        with self._turn_lock:
            if self._leader is not None:
                return
            self._leader = me
            self._led_since = led_since = monotonic()
            aside = self._aside
        try:
            deadline = None if timeout is None else led_since + timeout
            if not aside:
                self._conn.interrupt()  # the event thread's wait returns, and it steps aside
            if not self._read_lock.acquire(True, -1 if timeout is None else timeout):
                return
            try:
                self._lead(future, deadline)
            finally:
                self._read_lock.release()
        finally:
            with self._turn_lock:
                self._leader = None
                self._left_at = left_at = monotonic()
                if left_at - led_since >= LEAD_CHECK_SECONDS:
                    self._turn.notify_all()

    def _flush(self):
        try:
            self._conn.flush()
        except Exception:  # closed meanwhile: the caller's own wait says what happened
            pass

    def _lead(self, future, deadline):
        conn = self._conn
        while not future.done() and not self.stopping:
            wait = POLL_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - monotonic())
                if wait <= 0:
                    return
            try:
                events = conn.next_events(wait)
            except Exception:  # closed meanwhile: the caller's own wait says what happened
                return
            # A KeyboardInterrupt (this may be the main thread) comes between two events,
            # as a rule before the first bytecode of a handler: the rest of the batch is
            # still dispatched, the interrupted event included, before it propagates.
            done = 0
            try:
                if self._output_deadlines:
                    self._expire_output_waits()
                while done < len(events):
                    self._handle(events[done])
                    done += 1
            except BaseException:
                for event in events[done:]:
                    self._handle(event)
                raise

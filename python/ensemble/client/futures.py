"""Futures for single messages and groups of them.

Every request gets one of each, so they are kept light: a MessageFuture is a
LightFuture, and its ``output`` is an OutputSignal that makes an Event only
if someone waits on it (most never do).
"""

import itertools
from _thread import RLock, allocate_lock
from concurrent.futures import Future, TimeoutError as FutureTimeout
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, LOGGER, PENDING, InvalidStateError
from threading import Event, Lock

try:  # takes objects out of the cyclic collector's view, and back (see "Out of the collector's view" below)
    from .._core import track, untrack
except ImportError:  # the sources without the built core, as tests/parallel import them: all stay tracked
    def untrack(*objects):
        pass

    def track(*objects):
        pass

_DONE_STATES = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)


def _untracked(obj):
    untrack(obj)
    return obj


def msg_id_list():
    """A list for msg_ids only (a client's or a view's ``history``), out of the
    collector's view: strings make no cycle, and a history grows by one entry per
    request for as long as its client runs, which every full collection read one by
    one (about 4.4 ms per 100k entries, with the GIL held)."""
    return _untracked([])


def msg_id_set():
    """A set for msg_ids only (``outstanding``), out of the collector's view, as
    msg_id_list: thousands are outstanding during a burst of submits."""
    return _untracked(set())
_signal_lock = Lock()  # one for all signals: each holds it for a few instructions


class OutputSignal:
    """Set once a request's outputs are complete; the part of the Future
    interface that the client and multi_future use."""

    __slots__ = ("metadata", "_set", "_event", "_callbacks")

    def __init__(self, metadata=None):
        self.metadata = metadata
        self._set = False
        self._event = None
        self._callbacks = None

    def done(self):
        return self._set

    def cancelled(self):
        return False

    def set_result(self, _value=None):
        with _signal_lock:
            if self._set:
                return
            self._set = True
            event, callbacks = self._event, self._callbacks
            self._callbacks = None
        if event is not None:
            event.set()
        for callback in callbacks or ():
            callback(self)

    def add_done_callback(self, callback):
        with _signal_lock:
            if not self._set:
                track(self)  # a callback may lead back to it (see MessageFuture)
                self._callbacks = (self._callbacks or []) + [callback]
                return
        callback(self)

    def wait(self, timeout=None):
        with _signal_lock:
            if self._set:
                return True
            if self._event is None:
                self._event = Event()
            event = self._event
        return event.wait(timeout)

    def result(self, timeout=None):
        if not self.wait(timeout):
            raise FutureTimeout()

    def exception(self, timeout=None):
        self.result(timeout)


# One lock under every future's condition: a lock each was one more object per request for
# every garbage collection to scan, and each is held for a few instructions at a time. It is
# re-entrant, as concurrent.futures.wait holds the conditions of all its futures at once.
_futures_lock = RLock()


class _Condition:
    """The part of ``threading.Condition`` that ``Future`` and the module
    functions of ``concurrent.futures`` use, as one object. A Condition holds
    five bound methods and a deque, which made each Future 11 objects for the
    garbage collector to scan; with thousands of tasks outstanding, full
    collections cost more than submitting the tasks."""

    __slots__ = ("_lock", "_waiters")

    def __init__(self):
        self._lock = _futures_lock
        self._waiters = None

    def acquire(self, *args):
        return self._lock.acquire(*args)

    def release(self):
        self._lock.release()

    def __enter__(self):
        return self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()

    def wait(self, timeout=None):
        """As Condition.wait: call with the lock held."""
        waiter = allocate_lock()
        waiter.acquire()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        saved = self._lock._release_save()
        got = False
        try:
            if timeout is None:
                got = waiter.acquire()
            elif timeout > 0:
                got = waiter.acquire(True, timeout)
            else:
                got = waiter.acquire(False)
            return got
        finally:
            self._lock._acquire_restore(saved)
            if not got:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass

    def notify_all(self):
        """Wake every waiter: call with the lock held."""
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            waiter.release()

    notifyAll = notify_all


class LightFuture(Future):
    """A ``concurrent.futures.Future`` made of 1 object instead of 11 (see
    _Condition); its condition, done-callback and waiter lists are made when
    first needed."""

    def __init__(self):
        # Every attribute a future will have is set here: one first set later on can give
        # that instance a dict of its own (CPython 3.11 makes room for new names in a
        # class's shared attribute table only while its first instances are made), one
        # more object for each garbage collection; a burst of tasks made one for each of
        # their futures.
        self._state = PENDING
        self._result = None
        self._exception = None
        # Made when a thread first waits on it (or Future's own methods ask): settling
        # needs only the lock all conditions share, and most futures are never waited on.
        self._cond = None
        self._waiter_list = ()  # a list once concurrent.futures.wait or as_completed waits on it
        self._done_callbacks = ()

    @property
    def _condition(self):
        cond = self._cond
        if cond is None:
            with _futures_lock:
                if self._cond is None:
                    # out of the collector's view from the start: it holds only locks, and
                    # may be made after its future's parts were let go of (_untrack_finished)
                    self._cond = _untracked(_Condition())
                cond = self._cond
        return cond

    @property
    def _waiters(self):
        waiters = self._waiter_list
        if type(waiters) is not list:
            track(self)  # a waiter holds the futures it waits on (see MessageFuture)
            waiters = self._waiter_list = []
        return waiters

    def done(self):
        # One attribute, read atomically under the GIL: without Future.done's lock, which
        # a round trip took seven times (each wait loop asks)
        return self._state in _DONE_STATES

    def set_result(self, result):
        self._settle(result, None)

    def set_exception(self, exception):
        track(self)  # a traceback's frames may lead back to it (see MessageFuture)
        self._settle(None, exception)

    def _settle(self, result, exception):
        # Future's set_result and set_exception, reading the waiter list without making it.
        # Both fields are set (a future settles once; the other stays None), without setattr
        # or getattr by name: every request's future and its AsyncResult settle here.
        with _futures_lock:  # the lock under _condition: a waiter checks the state under it
            if self._state in _DONE_STATES:
                raise InvalidStateError("{}: {!r}".format(self._state, self))
            self._result = result
            self._exception = exception
            self._state = FINISHED
            for waiter in self._waiter_list:
                if exception is None:
                    waiter.add_result(self)
                else:
                    waiter.add_exception(self)
            if self._cond is not None:  # none: nobody can be waiting on it
                self._cond.notify_all()
        self._invoke_callbacks()

    def add_done_callback(self, fn):
        # Future.add_done_callback's behaviour, taking the lock once: every task adds one
        with _futures_lock:
            if self._state not in _DONE_STATES:
                track(self)  # the callback may lead back to it (see MessageFuture)
                if self._done_callbacks:
                    self._done_callbacks.append(fn)
                else:
                    self._done_callbacks = [fn]
                return
        try:
            fn(self)
        except Exception:
            LOGGER.exception("exception calling callback for %r", self)

    def _invoke_callbacks(self):
        # Let go of them once called: a callback is usually a bound method of
        # the AsyncResult that holds this future, and that cycle would keep both
        # alive until a full collection. Once done, add_done_callback calls new
        # callbacks at once instead of storing them. Most futures have none.
        if self._done_callbacks:
            super()._invoke_callbacks()
            self._done_callbacks = ()


class MessageFuture(LightFuture):
    """The reply to one request sent to one engine.

    Resolves with the request's result (an exception instance for a remote
    failure). ``output`` resolves once the engine's outputs for the request
    are complete (its ``status: idle``). ``metadata`` is the request's
    Metadata dict; ``iopub_callbacks`` are called, on the thread that reads
    the client's events (turns.py), with each iopub message for this request.

    Out of the collector's view: the client sends it untracked, with its output
    signal and metadata (sending.py), and its AsyncResult's list of futures
    starts untracked too, so that an outstanding task is one object (the
    AsyncResult) for each garbage collection to scan, not four. Thousands are
    outstanding in a submit loop; four each made a full collection (30-75 ms,
    with the GIL held) land in most loops of 4000. Untracked objects are still
    freed by reference counting, but a reference cycle through one is never
    collected. So each becomes tracked again as it takes on a reference that may
    lead back to it: a done-callback, an iopub callback, a waiter, an exception
    (its traceback). Its one reference back by design, ``_owner``, goes when it
    resolves; the client tracks the still-unresolved ones again when it closes.
    """

    def __init__(self, msg_id, metadata, engine_id=None):
        super().__init__()
        self.msg_id = msg_id
        self.metadata = metadata
        self.engine_id = engine_id
        self.output = OutputSignal(metadata)
        # every name set now (see LightFuture.__init__)
        self.iopub_callbacks = ()  # a list once the first is added: most requests never have one
        self._owner = None  # the AsyncResult it resolves (set_owner), until it has
        self.engine_uuid = None  # its key in the client's _outstanding_dict (None: a task not yet assigned)
        self.from_hub = False  # another client's request, fetched from the controller (Client._fetch_from_hub)
        self.forget = False  # drop from the client's table once outputs are in (Client._forget_when_complete)

    def set_owner(self, owner):
        """Calls ``owner._resolve_one(self)`` once done (at once if it is), before
        any done-callback: an AsyncResult's one future resolves it without the
        callback list and bound method that add_done_callback would keep (two
        more objects per request for the garbage collector to scan)."""
        with _futures_lock:
            pending = self._state not in _DONE_STATES
            if pending and self._owner is None:
                self._owner = owner
                return
        if pending:
            # a second AsyncResult for it (get_result of an outstanding msg_id): it must
            # not take the first one's place, which would then never resolve
            self.add_done_callback(owner._resolve_one)
        else:
            owner._resolve_one(self)

    def _invoke_callbacks(self):
        owner = self._owner
        if owner is not None:
            self._owner = None  # a cycle with the owner's children otherwise
            try:
                owner._resolve_one(self)
            except Exception:
                LOGGER.exception("exception resolving %r", owner)
        super()._invoke_callbacks()

    def add_iopub_callback(self, callback):
        track(self)
        self.iopub_callbacks = list(self.iopub_callbacks) + [callback]

    def remove_iopub_callback(self, callback):
        self.iopub_callbacks = [c for c in self.iopub_callbacks if c is not callback]

    def wait(self, timeout=None):
        if self.done():
            return True
        try:
            self.exception(timeout)
        except FutureTimeout:
            return False
        return True


def outcome(future):
    """A finished future's result, read without its lock; a remote failure is an
    exception instance, whether the future holds it as its result or its exception."""
    if future._state != FINISHED:
        return future.exception()  # cancelled: raises, as it always did
    return future._exception if future._exception is not None else future._result


def when_all(futures, callback):
    """Calls ``callback()`` once, on the thread that finishes the last of
    ``futures`` (at once if all are done). A count instead of multi_future's
    Future: an AsyncResult on several engines made two of those, each a
    condition and a callback chain, per call."""
    total = len(futures)
    if total == 0:  # nothing to wait for (send_signal to engines it signalled itself)
        callback()
        return
    finished = itertools.count(1)  # next() is atomic: children finish on one thread, but
    # add_done_callback on a finished one calls back on this one

    def one_done(_):
        if next(finished) == total:
            callback()

    for future in futures:
        future.add_done_callback(one_done)


def multi_future(children):
    """A Future resolving with the list of ``children``'s results once all
    are done (or with the first exception among them)."""
    future = Future()
    pending = set(children)
    lock = Lock()
    if not pending:
        future.set_result([])
        return future

    def on_done(f):
        with lock:
            pending.discard(f)
            if pending or future.done():
                return
        results = []
        for child in children:
            exc = child.exception()
            if exc is not None:
                future.set_exception(exc)
                return
            results.append(child.result())
        future.set_result(results)

    for child in list(pending):
        child.add_done_callback(on_done)
    return future

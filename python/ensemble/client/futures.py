"""Futures for single messages and groups of them.

Every request gets one of each, so they are kept light: a MessageFuture is a
plain Future, and its ``output`` is an OutputSignal that makes an Event only
if someone waits on it (most never do).
"""

from concurrent.futures import Future, TimeoutError as FutureTimeout
from threading import Event, Lock

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


class MessageFuture(Future):
    """The reply to one request sent to one engine.

    Resolves with the request's result (an exception instance for a remote
    failure). ``output`` resolves once the engine's outputs for the request
    are complete (its ``status: idle``). ``metadata`` is the request's
    Metadata dict; ``iopub_callbacks`` are called, on the client's event
    thread, with each iopub message for this request.
    """

    def __init__(self, msg_id, metadata, engine_id=None):
        super().__init__()
        self.msg_id = msg_id
        self.metadata = metadata
        self.engine_id = engine_id
        self.output = OutputSignal(metadata)
        self.iopub_callbacks = []

    def wait(self, timeout=None):
        if self.done():
            return True
        try:
            self.exception(timeout)
        except FutureTimeout:
            return False
        return True


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

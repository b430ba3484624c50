"""Futures for single messages and groups of them."""

from concurrent.futures import Future
from threading import Event, Lock


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
        self.output = Future()
        self.output.metadata = metadata
        self.iopub_callbacks = []
        self._evt = Event()
        self.add_done_callback(lambda f: self._evt.set())

    def wait(self, timeout=None):
        if self.done():
            return True
        return self._evt.wait(timeout)


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

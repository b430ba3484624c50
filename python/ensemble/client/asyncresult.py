"""AsyncResult: the handle on work submitted to engines.

An AsyncResult is a ``concurrent.futures.Future`` (and awaitable in asyncio)
over one or more MessageFutures, one per request sent. Its value is the single
result for a request to one integer target, else the list of results.
"""

import asyncio
import threading
import time
from concurrent.futures import CancelledError, Future, TimeoutError as FutureTimeout
from concurrent.futures._base import FINISHED
from queue import Queue

from .. import error
from .display import OutputDisplay
from .futures import (LightFuture, MessageFuture, OutputSignal, outcome, track as _track, untrack as _untrack,
                      when_all)
from .result_timing import ResultTiming
from .turns import read_until
from .util import progress


_FOREVER = threading.TIMEOUT_MAX
# How long metadata read after the result waits for the outputs still on their way (see _outputs_in).
_OUTPUT_GRACE = 2.0


def _timeout(timeout):
    return None if timeout is None or timeout < 0 else timeout


class AsyncResult(LightFuture, OutputDisplay, ResultTiming):
    """Results of a non-blocking call; see ipyparallel's AsyncResult."""

    msg_ids = None
    _targets = None
    _single_result = False
    owner = False
    _view_outstanding = None  # the recording view's ``outstanding`` (View._record)

    def __init__(self, client, children, fname="unknown", targets=None, owner=False,
                 return_exceptions=False):
        super().__init__()
        if isinstance(children, list):
            self._single_result = False
            self.msg_ids = [f.msg_id for f in children]
        else:  # one request, as every apply to one engine or a load-balanced one is
            self._single_result = True
            self.msg_ids = [children.msg_id]
            children = [children]
        self._children = children
        self._client = client
        self._fname = fname
        self._targets = targets
        self.owner = owner
        self._return_exceptions = return_exceptions
        self._ready = False
        self._success = None
        self._raw_results = None
        one_request = len(children) == 1 and type(children[0]) is MessageFuture
        # strings and engine ids: for each full collection, objects fewer per request; the list
        # of one request's future too, out of view with it until resolved (see MessageFuture):
        # a failure puts them back (_resolve), and the client's close the unresolved ones
        _untrack(self.msg_ids, targets if type(targets) is list else None, children if one_request else None)
        if len(children) == 1:  # the common case, without a combining future
            self._output_signal = children[0].output
            if one_request:
                children[0].set_owner(self)
            else:
                children[0].add_done_callback(self._resolve_one)
        else:
            self._output_signal = OutputSignal()
            when_all([f.output for f in children], self._output_signal.set_result)
            when_all(children, self._resolve_children)

    _metadata_list = None

    @property
    def _metadata(self):
        # made when first read: one object fewer per request for the garbage collector, as
        # most are never read; then kept, so that ar.metadata is one list, as in ipyparallel
        if self._metadata_list is None:
            self._metadata_list = [f.metadata for f in self._children]
        return self._metadata_list

    # -- resolution (runs on whichever thread finishes the last child) ------

    def _resolve_one(self, child):
        self._resolve([outcome(child)])

    def _resolve_children(self):
        self._resolve([outcome(child) for child in self._children])

    def _resolve(self, results):
        self._raw_results = results
        try:
            if self._single_result:
                if isinstance(results[0], BaseException):
                    raise results[0]
            else:
                results = self._collect_exceptions(results)
            value = self._reconstruct_result(results)
        except Exception as exc:
            self._success, self._ready = False, True
            # the exception's traceback holds this frame, and so this object: its
            # parts go back into the collector's view (see MessageFuture)
            _track(self._children, *self._children, *(c.output for c in self._children))
            self.set_exception(exc)
        else:
            self._success = self._ready = True
            self.set_result(value)
        if self.owner:
            client = self._client
            results, metadata = client.results, client.metadata
            for msg_id, child in zip(self.msg_ids, self._children):
                results.pop(msg_id, None)
                metadata.pop(msg_id, None)
                client._forget_when_complete(child)
        if self._success:  # owned or not (a map's chunks are not): the client may keep them
            _untrack_finished(self)
        # read after set_result: View._record checks done() after setting it
        if self._view_outstanding is not None:
            self._view_outstanding.difference_update(self.msg_ids)

    def _collect_exceptions(self, results):
        if self._return_exceptions:
            return results
        return error.collect_exceptions(results, self._fname)

    def _reconstruct_result(self, res):
        return res[0] if self._single_result else res

    # -- waiting -----------------------------------------------------------

    def __repr__(self):
        state = ":finished" if self._ready else ""
        return "<%s: %s%s>" % (self.__class__.__name__, self._fname, state)

    def ready(self):
        return self._ready

    def wait(self, timeout=-1):
        """Wait up to ``timeout`` seconds (-1/None: forever); return ready()."""
        if not self._ready:
            left = read_until(self._client, self, _timeout(timeout))
            if not self._ready:  # another thread read, or the time ran out
                try:
                    Future.exception(self, left)
                except (FutureTimeout, CancelledError):
                    pass
        return self._ready

    def wait_for_output(self, timeout=-1):
        """Wait until every engine's outputs for this request arrived."""
        return self._output_signal.wait(_timeout(timeout))

    def get(self, timeout=None, return_exceptions=None):
        """The result, waiting up to ``timeout`` seconds (None/-1: forever).

        Raises TimeoutError if not ready in time, else the remote error
        (RemoteError, or CompositeError for several engines).
        """
        if not self.wait(timeout):
            raise error.TimeoutError("Result not ready.")
        if return_exceptions is None:
            return_exceptions = self._return_exceptions
        if self._success:
            # set before the result (_resolve): read without the lock once it is in
            return self._result if self._state == FINISHED else self.result()
        if return_exceptions:
            return self._reconstruct_result(self._raw_results)
        raise self.exception()

    @property
    def r(self):
        return self.get()

    def successful(self):
        """Whether it finished without error; AssertionError if not ready."""
        assert self.ready()
        return self._success

    def get_dict(self, timeout=-1):
        """Results keyed by engine id (one request per engine only)."""
        results = self.get(timeout)
        engine_ids = [md["engine_id"] for md in self._metadata]
        if self._single_result and type(engine_ids[0]) is list:
            engine_ids = engine_ids[0]  # a coalesced broadcast's: its result is their list
        elif self._single_result:
            results = [results]
        rdict = {}
        for eid, result in zip(engine_ids, results):
            if eid in rdict:
                raise ValueError("Cannot build dict, %i jobs ran on engine #%i"
                                 % (engine_ids.count(eid), eid))
            rdict[eid] = result
        return rdict

    @property
    def result_dict(self):
        return self.get_dict()

    def abort(self):
        """Abort those requests that have not started yet."""
        assert not self.ready(), "Can't abort, I am already done!"
        return self._client.abort(self.msg_ids, targets=self._targets, block=True)

    def __await__(self):
        return asyncio.wrap_future(self).__await__()

    # -- sending (sends are queued without copying; nothing to track) -------

    @property
    def sent(self):
        return True

    def wait_for_send(self, timeout=-1):
        """Returns once the requests are on their way: the client may hold a
        request back for a moment in a burst of them (docs/architecture.md)."""
        try:
            self._client._conn.flush()
        except Exception:  # closed: nothing is held any more
            pass

    @property
    def _tracker(self):
        try:
            import zmq

            return zmq.MessageTracker()
        except ImportError:
            return None

    @property
    def _sent_event(self):
        event = threading.Event()
        event.set()
        return event

    # -- metadata access ---------------------------------------------------

    @property
    def metadata(self):
        self._outputs_in()
        return self._metadata[0] if self._single_result else self._metadata

    _outputs_awaited = False

    def _outputs_in(self):
        """Once the result is in, metadata (``ar.stdout``) waits a little for the outputs: the
        reply came straight from the engine and they through the controller, a moment later;
        with ipyparallel both came through it, outputs first, so they were there already.
        Once only: outputs that never come (their engine died) cost one grace, not each read."""
        signal = self._output_signal
        if self._ready and not signal.done() and not self._outputs_awaited:
            self._outputs_awaited = True
            signal.wait(read_until(self._client, signal, _OUTPUT_GRACE))

    def __getitem__(self, key):
        if isinstance(key, int):
            self._check_ready()
            return self._collect_exceptions([self.result()[key]])[0]
        if isinstance(key, slice):
            self._check_ready()
            return self._collect_exceptions(self.result()[key])
        if isinstance(key, str):
            self._outputs_in()
            values = [md[key] for md in self._metadata]
            return values[0] if self._single_result else values
        raise TypeError("Invalid key type %r, must be 'int','slice', or 'str'" % type(key))

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self.__getitem__(key)
        except (error.TimeoutError, KeyError):
            raise AttributeError("%r object has no attribute %r"
                                 % (self.__class__.__name__, key)) from None

    def __dir__(self):
        from .metadata import Metadata

        return sorted(set(dir(self.__class__)) | set(Metadata._KEYS) | set(self.__dict__))

    def _check_ready(self):
        if not self.ready():
            raise error.TimeoutError("Result not ready.")

    # -- iteration ---------------------------------------------------------

    def __len__(self):
        return len(self.msg_ids)

    def __iter__(self):
        if self._single_result:
            raise TypeError("AsyncResults with a single result are not iterable.")
        for child in self._children:
            child.wait(read_until(self._client, child, None))
            result = child.result()
            self._collect_exceptions([result])
            yield result

    def wait_interactive(self, interval=0.1, timeout=-1, widget=None):
        """Wait with a tqdm progress bar; returns when ready or at timeout."""
        timeout = _timeout(timeout)
        start = time.perf_counter()
        bar = progress(widget=widget, total=len(self), unit="tasks", desc=self._fname)
        while not self.ready() and (timeout is None or time.perf_counter() - start <= timeout):
            self.wait(interval)
            bar.update(self.progress - bar.n)
        bar.update(self.progress - bar.n)
        bar.close()


class AsyncMapResult(AsyncResult):
    """Result of a map: ``get()`` joins the partitions; iteration yields
    single results as their partitions arrive (in order unless
    ``ordered=False``)."""

    def __init__(self, client, children, mapObject, fname="", ordered=True,
                 return_exceptions=False, owner=False):
        self._mapObject = mapObject
        self.ordered = ordered
        super().__init__(client, children, fname=fname, owner=owner, return_exceptions=return_exceptions)
        self._single_result = False

    def _reconstruct_result(self, res):
        if self._return_exceptions and any(isinstance(r, Exception) for r in res):
            flat = []
            for r in res:
                if isinstance(r, Exception):
                    flat.append(r)
                else:
                    flat.extend(r)
            return flat
        return self._mapObject.joinPartitions(res)

    def __iter__(self):
        return self._ordered_iter() if self.ordered else self._unordered_iter()

    def _child_items(self, child):
        items = child.result()
        if not isinstance(items, list):
            items = [items]
        self._collect_exceptions(items)
        yield from items

    def _ordered_iter(self):
        for child in self._children:
            child.wait(read_until(self._client, child, None))
            yield from self._child_items(child)

    def _unordered_iter(self):
        queue = Queue()
        for child in self._children:
            child.add_done_callback(queue.put)
        for _ in range(len(self._children)):
            yield from self._child_items(queue.get(timeout=_FOREVER))


__all__ = ["AsyncResult", "AsyncMapResult"]


def _untrack_finished(ar):
    """Take a succeeded AsyncResult's own parts out of the garbage collector's view.

    A client keeps thousands of finished results, and each full collection walked
    all ten objects of each again: 45-85 ms per collection at 10k tasks, twice per
    10k submitted, with the GIL held. Once the result is in, these parts point
    only forward (to the result, the metadata, the shared lock), so none can be in
    a reference cycle: reference counting frees them. A failed one keeps its
    parts tracked: an exception's traceback holds frames, which can hold the
    AsyncResult. The AsyncResult itself stays tracked, as users may hang
    anything on it, and so do the result and the outputs. So does a request
    with iopub callbacks, which are kept after it finishes and may hold it.
    """
    children = ar._children
    for child in children:  # a loop, not any(): one generator fewer per result
        if getattr(child, "iopub_callbacks", ()):
            _track(children)  # made untracked (see MessageFuture); the callback's future is tracked
            return
    parts = [ar.msg_ids, children, ar._raw_results]  # conditions start untracked (futures.py)
    for child in children:
        md = child.metadata
        parts += (child, child.output, md, md["outputs"], md["follow"], md["after"])
    _untrack(*parts)


def __getattr__(name):
    # where ipyparallel keeps it (ipyparallel.client.asyncresult.AsyncHubResult)
    if name == "AsyncHubResult":
        from .hubresult import AsyncHubResult

        return AsyncHubResult
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

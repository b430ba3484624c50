"""``view.executor``: a ``concurrent.futures.Executor`` over a view."""

import concurrent.futures
import warnings


class ViewExecutor(concurrent.futures.Executor):
    """submit = view.apply_async; map = view.imap. Shutting it down waits
    for results but never stops engines."""

    def __init__(self, view):
        self.view = view
        self._max_workers = len(view) if view.client is not None else 0

    def submit(self, fn, *args, **kwargs):
        return self.view.apply_async(fn, *args, **kwargs)

    def map(self, func, *iterables, **kwargs):
        if "timeout" in kwargs:
            warnings.warn("timeout unsupported in ViewExecutor.map")
            kwargs.pop("timeout")
        kwargs.pop("chunksize", None)
        yield from self.view.imap(func, *iterables, **kwargs)

    def shutdown(self, wait=True, **kwargs):
        if wait:
            self.view.wait()

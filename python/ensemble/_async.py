"""``AsyncFirst``: every coroutine method ``m`` of a subclass also exists as ``m_sync``,
which runs it to completion and returns its value, as ipyparallel's mixin of the same
name (``ipyparallel._async``) does for its Cluster.

Called where no event loop runs, ``m_sync`` runs the coroutine on the calling thread
(``asyncio.run``). Called from inside a running loop (a notebook cell), where blocking on
that loop would deadlock, it runs the coroutine on a helper thread with a loop of its own
and waits for it; ``_async_thread`` is that thread (None until one was needed).
"""

import asyncio
import inspect
import threading
from functools import partial


def _run_here(coro_function, args, kwargs):
    # asyncio.run() leaves the thread without a current loop; the thread's own (an
    # Ensemble kernel's, for a cell's `asyncio.Task(...)` or `await`) comes back after.
    previous = getattr(getattr(asyncio.get_event_loop_policy(), "_local", None), "_loop", None)
    try:
        return asyncio.run(coro_function(*args, **kwargs))
    finally:
        if previous is not None and not previous.is_closed():
            asyncio.set_event_loop(previous)


def _run_on_a_helper_thread(owner, coro_function, args, kwargs):
    box = {}

    def target():
        try:
            box["value"] = asyncio.run(coro_function(*args, **kwargs))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="async-first", daemon=True)
    if owner is not None:
        owner._async_thread = thread
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_sync(coro_function, *args, _owner=None, **kwargs):
    """Run a coroutine function to completion and return its value, also from inside a
    running event loop (then on a helper thread, recorded as ``_owner._async_thread``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro_function, args, kwargs)
    return _run_on_a_helper_thread(_owner, coro_function, args, kwargs)


class AsyncFirst:
    """Gives each coroutine method ``m`` a blocking twin ``m_sync`` (see the module)."""

    _async_thread = None

    def __dir__(self):
        # the twins too, so that tab completion offers them
        names = set(super().__dir__())
        names.update(name + "_sync" for name in list(names)
                     if not name.startswith("_") and inspect.iscoroutinefunction(getattr(type(self), name, None)))
        return sorted(names)

    def __getattr__(self, name):
        if name.endswith("_sync"):
            method = getattr(self, name[: -len("_sync")], None)
            if method is not None and inspect.iscoroutinefunction(method):
                return partial(run_sync, method, _owner=self)
        raise AttributeError(name)

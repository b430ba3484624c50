"""An engine as a dask.distributed worker (``Client.become_dask``), as ipyparallel's
``become_dask_worker`` and ``stop_distributed_worker`` make one.

ipyparallel runs the worker on its kernel's tornado loop. An engine here runs requests
on its main thread without an event loop, so the worker gets a loop of its own, on a
daemon thread (``dask-worker``); its tasks run on its own executor threads, beside the
engine's requests. The worker is in the user namespace as ``distributed_worker`` and
``dask_worker``, as in ipyparallel. One worker per engine: a second call while one runs
does nothing.
"""

import asyncio
import sys
import threading

_NAMES = ("distributed_worker", "dask_worker")
# How long a worker may take to start and register with its scheduler, and to close.
START_SECONDS = 60.0
STOP_SECONDS = 30.0
# With a death_timeout, the worker gives up after it; waiting this much longer covers a start
# that does not (seen once: a worker's registration ignored death_timeout=1 for START_SECONDS).
DEATH_TIMEOUT_GRACE_SECONDS = 5.0
_ENDED = frozenset({"closing", "closed", "closing_gracefully", "failed"})

_running = None  # (worker, loop, thread) while this engine is a worker; the engine's main thread sets it


def _user_ns():
    return sys.modules["__main__"].__dict__


def start_loop(name):
    """A new event loop running on a daemon thread called ``name``: (loop, thread).
    The client's dask scheduler runs on one too (client/dask.py)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    return loop, thread


def stop_loop(loop, thread):
    """Stops a loop of start_loop and waits for its thread (closed if it ended)."""
    loop.call_soon_threadsafe(loop.stop)
    thread.join(STOP_SECONDS)
    if not thread.is_alive():
        loop.close()


def _forget(worker):
    ns = _user_ns()
    for name in _NAMES:
        if ns.get(name) is worker:
            del ns[name]


def _still_running():
    """The running worker, or None; one that ended on its own (its scheduler went away)
    is let go of, so that a later become_dask starts a new one."""
    global _running
    if _running is None:
        return None
    worker, loop, thread = _running
    if getattr(worker.status, "name", "") not in _ENDED and thread.is_alive():
        return worker
    _running = None
    _forget(worker)
    stop_loop(loop, thread)
    return None


def become_dask_worker(address, nanny=False, **kwargs):
    """Start a dask worker (a ``distributed.Nanny`` and its worker process if ``nanny``)
    for the scheduler at ``address``; returns once it has registered with it. ``kwargs``
    go to the Worker (or Nanny). Raises what the worker raised if it could not start."""
    global _running
    if _still_running() is not None:
        return
    from distributed import Nanny, Worker

    made = []

    async def start():
        worker = (Nanny if nanny else Worker)(address, **kwargs)
        made.append(worker)
        await worker  # starts it and registers it with the scheduler
        return worker

    patience = START_SECONDS
    death_timeout = kwargs.get("death_timeout")
    if isinstance(death_timeout, (int, float)) and death_timeout > 0:
        patience = min(patience, death_timeout + DEATH_TIMEOUT_GRACE_SECONDS)
    loop, thread = start_loop("dask-worker")
    starting = asyncio.run_coroutine_threadsafe(start(), loop)
    try:
        worker = starting.result(patience)
    except BaseException as failure:
        # the worker's own failure (its death_timeout's TimeoutError among them) is raised as it is
        gave_up = isinstance(failure, TimeoutError) and not starting.done()
        if gave_up:
            starting.cancel()
            for made_worker in made:  # its server listens: close it (bounded), as a failed start does
                try:
                    asyncio.run_coroutine_threadsafe(made_worker.close(), loop).result(DEATH_TIMEOUT_GRACE_SECONDS)
                except Exception:
                    pass
        stop_loop(loop, thread)
        if gave_up:
            raise TimeoutError("the dask worker did not start and register with the scheduler at %s "
                               "within %g s" % (address, patience)) from None
        raise
    _running = (worker, loop, thread)
    ns = _user_ns()
    for name in _NAMES:
        ns[name] = worker


def stop_distributed_worker():
    """Close this engine's dask worker, if it has one, and take it out of the namespace."""
    global _running
    if _running is None:
        return
    worker, loop, thread = _running
    _running = None
    _forget(worker)
    try:
        if thread.is_alive():
            asyncio.run_coroutine_threadsafe(worker.close(), loop).result(STOP_SECONDS)
    finally:
        stop_loop(loop, thread)

"""``Client.become_dask``: the engines as the workers of a dask.distributed cluster.

ipyparallel starts the dask scheduler inside its (Python) controller. The controller here
is C++, so the scheduler runs in the client's process instead, on a thread with its own
event loop (``dask-scheduler``), as dask's own ``LocalCluster`` runs its scheduler in the
process that made it. It lives until ``stop_dask()`` or the client's ``close()``.

It listens on this machine's address on the route to the controller (loopback for a
controller on this machine), which is where the engines already reach this cluster from:
a dask scheduler takes anyone who can connect to it, unless ``scheduler_args`` give it
``security``. ``scheduler_args={"host": ...}`` picks another address.
"""

import asyncio
import ipaddress
import logging
import socket

from .._engine.dask_worker import (START_SECONDS, STOP_SECONDS, become_dask_worker, start_loop, stop_loop,
                                   stop_distributed_worker)


def _address_towards(ip):
    """This machine's address that packets to ``ip`` leave from: loopback for a wildcard
    or loopback controller, else the address of the interface on the route to it."""
    try:
        target = ipaddress.ip_address(ip)
    except ValueError:
        try:
            target = ipaddress.ip_address(socket.gethostbyname(ip))
        except OSError:
            return "127.0.0.1"
    if target.is_loopback or target.is_unspecified:
        return "127.0.0.1" if target.version == 4 else "::1"
    family = socket.AF_INET if target.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((str(target), 9))  # no packet is sent: it only picks the route
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"


class _SchedulerThread:
    """A ``distributed.Scheduler`` on an event loop of its own thread. While it runs,
    dask's console log in this process shows warnings and errors only, as dask's
    LocalCluster does: the scheduler's routine messages would land in the user's
    session, where ipyparallel leaves them in its controller's log."""

    def __init__(self, scheduler_args):
        from distributed import Scheduler

        async def start():
            scheduler = Scheduler(**scheduler_args)
            await scheduler  # listening once this returns
            return scheduler

        self._loop, self._thread = start_loop("dask-scheduler")
        self._console_levels = _quieten_dask_console()
        try:
            self.scheduler = asyncio.run_coroutine_threadsafe(start(), self._loop).result(START_SECONDS)
        except BaseException:
            self._stop()
            raise
        self.address = self.scheduler.address

    def close(self):
        # Closing cancels what the scheduler still serves, e.g. a progress bar's feed, which
        # dask logs as an error with its traceback: in this process, that lands in the user's
        # session. Nothing of it is news to the user, who asked for the stop.
        closing = _FromThread(self._thread.name)
        for handler, _ in self._console_levels:
            handler.addFilter(closing)
        try:
            asyncio.run_coroutine_threadsafe(self.scheduler.close(), self._loop).result(STOP_SECONDS)
        finally:
            self._stop()
            for handler, _ in self._console_levels:
                handler.removeFilter(closing)

    def _stop(self):
        stop_loop(self._loop, self._thread)
        for handler, level in self._console_levels:
            handler.setLevel(level)


class _FromThread(logging.Filter):
    """Drops the records logged on the thread named ``name``."""

    def __init__(self, name):
        super().__init__()
        self.thread_name = name

    def filter(self, record):
        return record.threadName != self.thread_name


def _quieten_dask_console():
    """Raises dask's console handlers to WARNING; returns their levels before."""
    handlers = [h for h in logging.getLogger("distributed").handlers if isinstance(h, logging.StreamHandler)]
    levels = [(h, h.level) for h in handlers]
    for handler in handlers:
        handler.setLevel(max(handler.level, logging.WARNING))
    return levels


class DaskMixin:
    _dask_scheduler = None  # the _SchedulerThread while this client runs one

    def become_dask(self, targets="all", port=0, nanny=False, scheduler_args=None, **worker_args):
        """Make the ``targets`` engines the workers of a dask.distributed cluster and
        return a ``distributed.Client`` connected to its scheduler (see this module for
        where the scheduler runs). ``port``: the scheduler's (0: any free one).
        ``nanny``: each worker in a process of its own, under a ``distributed.Nanny``
        in the engine. ``worker_args`` go to each Worker; ``nthreads`` is 1 unless
        given (``ncores``, its name before distributed 2, is read as ``nthreads``).
        Calling it again adds workers on engines that are not yet ones."""
        import distributed

        if self._dask_scheduler is None:
            scheduler_args = dict(scheduler_args or {})
            scheduler_args.setdefault("port", port)
            scheduler_args.setdefault("host", _address_towards(self._config.get("ip", "127.0.0.1")))
            self._dask_scheduler = _SchedulerThread(scheduler_args)
        if "ncores" in worker_args:
            worker_args["nthreads"] = worker_args.pop("ncores")
        worker_args.setdefault("nthreads", 1)
        self.direct_view(targets).apply_sync(become_dask_worker, self._dask_scheduler.address, nanny=nanny,
                                             **worker_args)
        return distributed.Client(self._dask_scheduler.address)

    become_distributed = become_dask

    def stop_dask(self, targets="all"):
        """Close the dask workers of the ``targets`` engines, then the scheduler that
        ``become_dask`` started."""
        try:
            self.direct_view(targets).apply_sync(stop_distributed_worker)
        finally:
            self._close_dask_scheduler()

    stop_distributed = stop_dask

    def _close_dask_scheduler(self):
        scheduler, self._dask_scheduler = self._dask_scheduler, None
        if scheduler is not None:
            scheduler.close()

"""Client methods that wait: for results and for engines."""

import threading
from collections.abc import Iterable
from concurrent.futures import Future, InvalidStateError

from .. import error
from .asyncresult import AsyncResult
from .futures import multi_future
from .turns import read_until
from .util import progress, running_ipython


class WaitMixin:
    # -- waiting ---------------------------------------------------------------

    def wait(self, jobs=None, timeout=-1):
        """Wait for jobs (default: all outstanding); False on timeout."""
        timeout = None if timeout is None or timeout < 0 else timeout
        if jobs is None:
            futures = [self._futures[m] for m in list(self.outstanding) if m in self._futures]
        else:
            if isinstance(jobs, (str, int, AsyncResult)) or not isinstance(jobs, Iterable):
                jobs = [jobs]
            futures = []
            for job in jobs:
                if isinstance(job, int):
                    job = self.history[job]
                if isinstance(job, AsyncResult):
                    futures.extend(job._children)
                elif isinstance(job, Future):
                    futures.append(job)
                elif job in self._futures:
                    futures.append(self._futures[job])
        done = threading.Event()
        everything = multi_future(futures)
        everything.add_done_callback(lambda f: done.set())
        return done.wait(read_until(self, everything, timeout))

    def wait_interactive(self, jobs=None, interval=1.0, timeout=-1.0):
        if jobs is None:
            futures = list(self._futures.values())
            if not futures:
                return
            ar = AsyncResult(self, futures, owner=False)
        else:
            ar = self._asyncresult_from_jobs(jobs, owner=False)
        return ar.wait_interactive(interval=interval, timeout=timeout)

    def wait_for_engines(self, n, *, timeout=-1, block=True, interactive=None, widget=None):
        """Wait until at least ``n`` engines are registered.

        Raises TimeoutError after ``timeout`` seconds (-1: never), and EngineError if an
        engine unregisters meanwhile, if the controller is gone, or if every engine of one of
        this client's Cluster's engine sets has exited (engines that crash on start never
        register). With block=False, returns a Future.
        """
        future = Future()
        if self._lost and len(self._ids) < n:
            # no engine can register with a controller that is gone: waiting would hang
            future.set_exception(error.EngineError(
                "the connection to the controller was lost; no engine can register"))
            return future.result() if block else future
        if interactive is None:
            interactive = running_ipython() is not None
        bar = progress(widget=widget, initial=len(self._ids), total=n, unit="engine") \
            if interactive and len(self._ids) < n else None

        def notify(event):
            if future.done():
                return
            if event["event"] in ("unregister", "lost"):
                future.set_exception(error.EngineError(
                    "Engine %s unregistered while waiting for engines." % event.get("id")
                    if event["event"] == "unregister" else "lost the controller"))
                return
            if bar is not None:
                bar.update(len(self._ids) - bar.n)
            if len(self._ids) >= n:
                future.set_result(None)

        def on_timeout():
            if not future.done():
                if len(self._ids) >= n:
                    future.set_result(None)
                else:
                    future.set_exception(error.TimeoutError(
                        "%i engines not ready in %s seconds. Currently ready: %i"
                        % (n, timeout, len(self._ids))))

        self._registration_callbacks.append(notify)
        timer = None
        if timeout is not None and timeout >= 0:
            timer = threading.Timer(timeout, on_timeout)
            timer.daemon = True
            timer.start()

        def cleanup(f):
            if notify in self._registration_callbacks:
                self._registration_callbacks.remove(notify)
            if timer is not None:
                timer.cancel()
            if bar is not None:
                bar.close()

        future.add_done_callback(cleanup)
        if len(self._ids) >= n:
            future.done() or future.set_result(None)
        else:
            self._fail_when_an_engine_set_stops(future)
        if block:
            return future.result()
        return future

    def _fail_when_an_engine_set_stops(self, future, interval=0.2):
        """Fails ``future`` with EngineError once every process of one of the engine sets that
        this client's Cluster started has exited, as ipyparallel's engine-set stop callback
        does. A client without a Cluster has no processes to watch."""
        from .processes import ours as _ours

        engines = getattr(getattr(self, "cluster", None), "engines", None) or {}
        sets = {name: list(engine_set.get("pids") or ()) for name, engine_set in engines.items()}
        sets = {name: pids for name, pids in sets.items() if pids}
        if not sets or future.done():
            return
        finished = threading.Event()
        future.add_done_callback(lambda f: finished.set())

        def watch():
            while not finished.wait(interval):
                for name, pids in sets.items():
                    if any(_ours(pid) for pid in pids):
                        continue
                    try:
                        future.set_exception(error.EngineError(
                            "Engine set stopped: set %s, whose %i engine(s) (pids %s) have "
                            "all exited" % (name, len(pids), pids)))
                    except InvalidStateError:  # the engines came first
                        pass
                    return

        threading.Thread(target=watch, name="ensemble-engine-set-watch", daemon=True).start()

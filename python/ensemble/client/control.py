"""Client methods that control engines and query the controller."""

import os
import signal as signal_module
import socket
import types

from .. import error, serialize
from .._engine import namespace as engine_ns
from .asyncresult import AsyncResult
from .hubresult import AsyncHubResult
from .futures import MessageFuture, msg_id_list, multi_future
from .metadata import Metadata


def _check(reply):
    content = reply["content"]
    if content.get("status") != "ok":
        raise error.unwrap_exception(content)
    return content


class ControlMixin:
    # -- engine control ------------------------------------------------------

    def _control_all(self, targets, msg_type, content, block):
        """Send a control request to each target; wait if ``block``."""
        ids = self._build_targets(targets)[1]
        waiters = [self._send_waited(msg_type, content, eid, "control") for eid in ids]
        future = multi_future(waiters)
        if not block:
            return future
        for reply in future.result(30):
            _check(reply)

    def abort(self, jobs=None, targets=None, block=None):
        """Abort queued requests (default: all outstanding) on ``targets``;
        only requests that have not started can be aborted."""
        block = self.block if block is None else block
        jobs = list(self.outstanding) if jobs is None else jobs
        if isinstance(jobs, (str, AsyncResult)):
            jobs = [jobs]
        msg_ids = []
        for job in jobs:
            if isinstance(job, AsyncResult):
                msg_ids.extend(job.msg_ids)
            elif isinstance(job, str):
                msg_ids.append(job)
            else:
                raise TypeError("Invalid msg_id type %r, expected str or AsyncResult" % (job,))
        if targets is None:
            engines = {self._futures[m].engine_id for m in msg_ids if m in self._futures}
            targets = sorted(e for e in engines if e in self._engines) or None
        return self._control_all(targets, "abort_request", {"msg_ids": msg_ids}, block)

    def clear(self, targets=None, block=None):
        """Clear the user namespace of the target engines."""
        block = self.block if block is None else block
        ids = self._build_targets(targets)[1]
        buffers = serialize.pack_apply(engine_ns.clear, (), {})
        ar = AsyncResult(self, [self.send_apply_request(buffers, eid) for eid in ids],
                         fname="clear", targets=ids, owner=True)
        if block:
            ar.get()
            return None
        return ar

    def send_signal(self, sig, targets=None, block=None):
        """Send signal ``sig`` (number or name) to the target engines.

        SIGINT is an ``interrupt_request``; other signals go straight to the
        engine process when it runs on this host, else through the engine.
        """
        block = self.block if block is None else block
        signum = getattr(signal_module, sig) if isinstance(sig, str) else int(sig)
        ids = self._build_targets(targets)[1]
        if signum == signal_module.SIGINT:
            return self._control_all(ids, "interrupt_request", {}, block)
        remote = []
        for eid in ids:
            info = self._engine_info.get(eid, {})
            if info.get("pid") and info.get("hostname") in (None, socket.gethostname()):
                os.kill(int(info["pid"]), signum)
            else:
                remote.append(eid)
        buffers = serialize.pack_apply(engine_ns.send_signal, (signum,), {})
        ar = AsyncResult(self, [self.send_apply_request(buffers, e) for e in remote],
                         fname="send_signal", targets=remote)
        if not block:
            return ar
        ar.get()

    def shutdown(self, targets="all", restart=False, hub=False, block=None):
        """Shut engines down; with ``hub=True`` the controller and all engines."""
        if restart:
            raise NotImplementedError("Engine restart is not yet implemented")
        block = self.block if block is None else block
        if hub:
            _check(self._send_recv("shutdown_request", {}))
            self.close()
            return
        try:
            ids = self._build_targets(targets)[1]
        except error.NoEnginesRegistered:
            return
        self._control_all(ids, "shutdown_request", {"restart": False}, block)

    # -- controller queries ------------------------------------------------------

    def queue_status(self, targets="all", verbose=False):
        """Per-engine ``{"queue", "completed", "tasks"}`` plus "unassigned"."""
        engine_ids = None if targets == "all" else self._build_targets(targets)[1]
        content = dict(_check(self._send_recv(
            "queue_request", {"targets": engine_ids, "verbose": verbose})))
        content.pop("status", None)
        status = {}
        for key, value in content.items():
            status[int(key) if key.lstrip("-").isdigit() else key] = value
        if isinstance(targets, int):
            return status[engine_ids[0]]  # targets=-1: the last engine's (ipyparallel 7.1 raises KeyError)
        return status

    def hub_history(self):
        """Every msg_id the controller has seen, in submission order."""
        return _check(self._send_recv("hub_history_request", {}))["history"]

    def _msg_ids_from_jobs(self, jobs=None):
        if not isinstance(jobs, (list, tuple, set, types.GeneratorType)):
            jobs = [jobs]
        msg_ids = []
        for job in jobs:
            if isinstance(job, int):
                msg_ids.append(self.history[job])
            elif isinstance(job, str):
                msg_ids.append(job)
            elif isinstance(job, AsyncResult):
                msg_ids.extend(job.msg_ids)
            else:
                raise TypeError("Expected msg_id, int, or AsyncResult, got %r" % (job,))
        return msg_ids

    def _asyncresult_from_jobs(self, jobs=None, owner=False):
        single = not isinstance(jobs, (list, tuple, set, types.GeneratorType))
        msg_ids = self._msg_ids_from_jobs(jobs)
        # ipyparallel's rule: a result neither outstanding nor cached here (an owner took
        # it) is the controller's, so its AsyncResult is an AsyncHubResult, even where this
        # client still holds the future it reads it from
        hub = any(m not in self.outstanding and m not in self.results for m in msg_ids)
        children, fetched = self._futures_for(msg_ids)
        cls = AsyncHubResult if fetched or hub else AsyncResult
        return cls(self, children[0] if single and len(children) == 1 else children,
                   owner=owner)

    def _futures_for(self, msg_ids):
        """The future of each msg_id, and whether any came from the controller
        (for those this client holds none). Each is read once: a finished
        one may be let go meanwhile, by the event thread."""
        found = {m: self._futures.get(m) for m in msg_ids}
        missing = [m for m, f in found.items() if f is None]
        if missing:
            found.update(self._fetch_from_hub(missing)[0])
        return [found[m] for m in msg_ids], bool(missing)

    def _fetch_from_hub(self, msg_ids, keep_results=True):
        """Asks the controller about msg_ids (``result_request``): it re-sends the replies
        of the finished ones, before its answer, and later those of the pending ones.
        Returns the future of each (a dict; those this client held are kept, so whoever
        waits on one still gets it) and the answer, which says which are pending. Without
        ``keep_results`` the new futures' results stay out of ``results``, and the futures
        go once resolved (a status query: ipyparallel keeps nothing then)."""
        fetched, created = {}, []
        with self._lock:
            for msg_id in msg_ids:
                future = self._futures.get(msg_id)
                if future is None:
                    md = Metadata(msg_id=msg_id)
                    future = MessageFuture(msg_id, md)
                    future.from_hub = True
                    future.forget = not keep_results
                    self.metadata[msg_id] = md
                    self._futures[msg_id] = future
                    self.outstanding.add(msg_id)
                    created.append(msg_id)
                fetched[msg_id] = future
        reply = self._send_recv("result_request", {"msg_ids": list(msg_ids)})
        content = reply["content"]
        if content.get("status") != "ok":
            with self._lock:
                for msg_id in created:
                    self._futures.pop(msg_id, None)
                    self.outstanding.discard(msg_id)
                    self.metadata.pop(msg_id, None)
            raise error.unwrap_exception(content)
        return fetched, content

    def get_result(self, indices_or_msg_ids=None, block=None, owner=True):
        """An AsyncResult for earlier requests (history index, msg_id,
        AsyncResult, or a list); unknown ones are fetched from the controller."""
        block = self.block if block is None else block
        if indices_or_msg_ids is None:
            indices_or_msg_ids = -1
        ar = self._asyncresult_from_jobs(indices_or_msg_ids, owner=owner)
        if block:
            ar.wait()
        return ar

    # -- purging -----------------------------------------------------------------

    def purge_local_results(self, jobs=[], targets=[]):
        """Forget cached results and metadata (RuntimeError if outstanding)."""
        if not _named(targets) and not jobs:
            raise ValueError("Must specify at least one of `targets` and `jobs`")
        if jobs == "all":
            if self.outstanding:
                raise RuntimeError("Can't purge outstanding tasks: %s" % self.outstanding)
            # everything kept here, as ipyparallel clears it: also the metadata and results of
            # tasks fetched from the controller (get_result, result_status), which have no future
            msg_ids = set(self._futures) | set(self.metadata) | set(self.results)
        else:
            msg_ids = set(self._msg_ids_from_jobs(jobs)) if jobs else set()
            if _named(targets):
                ids = set(self._build_targets(targets)[1])
                msg_ids.update(m for m, f in self._futures.items() if f.engine_id in ids)
            pending = self.outstanding.intersection(msg_ids)
            if pending:
                raise RuntimeError("Can't purge outstanding tasks: %s" % pending)
        with self._lock:
            for msg_id in msg_ids:
                self._discard(msg_id)

    def purge_hub_results(self, jobs=[], targets=[]):
        """Ask the controller to forget finished results."""
        if not _named(targets) and not jobs:
            raise ValueError("Must specify at least one of `targets` and `jobs`")
        engine_ids = self._build_targets(targets)[1] if _named(targets) else []
        msg_ids = "all" if jobs == "all" else (self._msg_ids_from_jobs(jobs) if jobs else [])
        _check(self._send_recv("purge_request", {"msg_ids": msg_ids, "engine_ids": engine_ids}))

    def purge_results(self, jobs=[], targets=[]):
        """Forget results here and on the controller."""
        self.purge_local_results(jobs=jobs, targets=targets)
        self.purge_hub_results(jobs=jobs, targets=targets)

    def purge_everything(self):
        self.purge_results("all")
        self.history = msg_id_list()


def _named(targets):
    """Whether ``targets`` names engines: engine 0 does (ipyparallel 7.1 takes ``targets=0``
    for none, and refuses a purge of engine 0 alone)."""
    return targets is not None and (isinstance(targets, int) or bool(targets))

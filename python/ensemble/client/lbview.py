"""LoadBalancedView: tasks go to the controller's scheduler, which picks the
engine (scheme and high-water mark are the controller's: ``ensemble cluster
start --scheme lru --hwm 4``) and enforces ``after``/``follow`` dependencies,
``targets``, ``timeout`` and ``retries`` (docs/parallel-protocol.md)."""

import concurrent.futures
import json
from collections import deque

from .. import serialize
from .asyncresult import AsyncResult
from .dependency import Dependency
from .flags import FlagValueError, checked_retries, checked_timeout
from .remotefunction import ParallelFunction
from .util import getname
from .view import View, _check_callable


def _checked_dependency(name, value):
    if not LoadBalancedView._valid_dependency(value):
        raise FlagValueError("Invalid dependency: %r" % (value,))
    return value


class LoadBalancedView(View):
    """Runs each task on one engine chosen by the controller from ``targets``
    (default: all)."""

    _flag_names = ["targets", "block", "track", "follow", "after", "timeout", "retries"]

    def __init__(self, client=None, socket=None, **flags):
        self.follow = None
        self.after = None
        self.timeout = 0.0
        self.retries = 0
        super().__init__(client=client, socket=socket, **flags)

    @staticmethod
    def _valid_dependency(dep):
        if dep is None or isinstance(dep, (str, AsyncResult, Dependency)):
            return True
        if isinstance(dep, (list, set, tuple)):
            return all(isinstance(d, (str, AsyncResult)) for d in dep)
        if isinstance(dep, dict):
            return (set(dep) == set(Dependency().as_dict())
                    and isinstance(dep["dependencies"], list)
                    and all(isinstance(d, str) for d in dep["dependencies"]))
        return False

    _flag_checks = dict(View._flag_checks, retries=checked_retries, timeout=checked_timeout,
                        follow=_checked_dependency, after=_checked_dependency)

    @staticmethod
    def _render_dependency(dep):
        """ipyparallel's wire form: a msg_id list, or Dependency.as_dict()."""
        if dep is None:
            return []
        if isinstance(dep, Dependency):
            return dep.as_dict()
        if isinstance(dep, AsyncResult):
            return list(dep.msg_ids)
        if isinstance(dep, dict):
            return dep
        return list(Dependency(dep))

    def apply_async(self, __ipp_f, *args, **kwargs):
        """``f(*args, **kwargs)`` on an engine the scheduler picks; returns an AsyncResult."""
        f = __ipp_f
        if (self.after is not None or self.follow is not None or self.targets is not None
                or type(self.retries) is not int or not callable(f)
                or type(self)._really_apply is not LoadBalancedView._really_apply):
            return self._really_apply(f, args, kwargs, block=False)
        # The common case, without the layers between: what _really_apply, _send_task and the
        # client's send_task do for it, called one inside the other, was about 1 µs of the
        # 11-13 µs a submit took in a loop (docs/performance.md, session 19).
        client = self.client
        future = client._conn.send_request(client, "apply_request", "{}",
                                           self._plain_flags_json(self.timeout or 0.0, self.retries),
                                           serialize.pack_apply(f, args, kwargs), None, "task")
        return self._record(AsyncResult(client, future, getname(f), None, True))

    def _really_apply(self, f, args=None, kwargs=None, block=None, track=None, after=None,
                      follow=None, timeout=None, targets=None, retries=None):
        _check_callable(f)
        args = [] if args is None else args
        kwargs = {} if kwargs is None else kwargs
        block = self.block if block is None else block
        future = self._send_task(f, args, kwargs, after, follow, timeout, targets, retries)
        ar = self._record(AsyncResult(self.client, future, fname=getname(f), targets=None,
                                      owner=True))
        return ar.get() if block else ar

    def _send_task(self, f, args, kwargs, after=None, follow=None, timeout=None, targets=None,
                   retries=None):
        """Sends one task with this view's flags (those given override them); its MessageFuture."""
        retries = self.retries if retries is None else retries
        if not isinstance(retries, int):
            raise TypeError("retries must be int, not %r" % type(retries))
        targets = self.targets if targets is None else targets
        after = self.after if after is None else after
        follow = self.follow if follow is None else follow
        timeout = self.timeout if timeout is None else timeout
        timeout = float(timeout or 0.0)  # as ipyparallel sends it: 0.0 for none
        if after is None and follow is None and targets is None:
            metadata = self._plain_flags_json(timeout, retries)
        else:
            metadata = dict(after=self._render_dependency(after), follow=self._render_dependency(follow),
                            timeout=timeout, retries=retries,
                            # engine uuids, as ipyparallel's client sends (and its task records keep) them
                            targets=[uuid.decode() for uuid in self.client._build_targets(targets)[0]]
                            if targets is not None else [])
        return self.client.send_task(serialize.pack_apply(f, args, kwargs), metadata)

    def _send_map_chunk(self, f, args):
        """One chunk of a map (remotefunction.py): sent as apply would send it, its
        msg_id in this view's history and outstanding, but without an AsyncResult of
        its own; the map's AsyncMapResult is the one."""
        _check_callable(f)
        future = self._send_task(f, args, {})
        self.history.append(future.msg_id)
        self.outstanding.add(future.msg_id)
        return future

    _plain_flags = None  # (flags, their JSON) of the last task without dependencies or targets

    def _plain_flags_json(self, timeout, retries):
        """The metadata of a task without dependencies or targets, as JSON: a view
        sends the same with every task, so it is made once."""
        # typed: retries=True and retries=1 are equal but not the same JSON
        key = (timeout, type(timeout), retries, type(retries))
        last = self._plain_flags
        if last is not None and last[0] == key:
            return last[1]
        text = json.dumps(dict(after=[], follow=[], timeout=timeout, retries=retries, targets=[]))
        self._plain_flags = (key, text)
        return text

    def map(self, f, *sequences, block=None, chunksize=1, ordered=True,
            return_exceptions=False):
        """Parallel ``map``: one task per ``chunksize`` items."""
        block = self.block if block is None else block
        assert len(sequences) > 0, "must have some sequences to map onto!"
        pf = ParallelFunction(self, f, block=block, chunksize=chunksize, ordered=ordered,
                              return_exceptions=return_exceptions)
        return pf.map(*sequences)

    def imap(self, f, *sequences, ordered=True, max_outstanding="auto",
             return_exceptions=False):
        """Lazy map: consumes the inputs as results come back, keeping at
        most ``max_outstanding`` tasks in flight (default: one per engine)."""
        assert len(sequences) > 0, "must have some sequences to map onto!"
        if max_outstanding == "auto":
            max_outstanding = len(self)
        pending = deque() if ordered else []

        def next_ready():
            if ordered:
                return [pending.popleft()]
            done, rest = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED)
            pending[:] = list(rest)
            return list(done)

        for args in zip(*sequences):
            pending.append(self.apply_async(f, *args))
            full = max_outstanding and sum(not ar.ready() for ar in pending) >= max_outstanding
            head_ready = pending[0].ready() if ordered else any(ar.ready() for ar in pending)
            if head_ready or full:
                for ar in next_ready():
                    yield ar.get(return_exceptions=return_exceptions)
        while pending:
            for ar in next_ready():
                yield ar.get(return_exceptions=return_exceptions)

    def register_joblib_backend(self, name="ipyparallel", make_default=False):
        """Makes ``joblib.Parallel(backend=name)`` run its batches on this view
        (``make_default=True``: also without naming it). Needs joblib."""
        from .joblib_backend import register

        register(name, make_default, view=self)


__all__ = ["LoadBalancedView"]

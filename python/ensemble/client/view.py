"""Views: where work runs. ``View`` holds the flags (block, track, targets)
and the API shared by all views; ``DirectView`` sends each call to every
target engine; ``BroadcastView`` is a DirectView (no controller-side fan-out
yet)."""

import builtins
import inspect
from contextlib import contextmanager

from .. import serialize
from .._engine import namespace as engine_ns
from . import map as Map
from .asyncresult import AsyncMapResult, AsyncResult
from .executor import ViewExecutor
from .flags import CheckedFlags, checked_bool
from .futures import msg_id_list, msg_id_set
from .remotefunction import ParallelFunction, parallel, remote
from .util import execute_content, getname, require_engines


class View(CheckedFlags):
    """Base of all views; use a subclass."""

    _flag_names = ["targets", "block", "track"]
    _flag_checks = {"block": checked_bool, "track": checked_bool}

    def __init__(self, client=None, socket=None, **flags):
        assert self.__class__ is not View, "Don't use base View objects, use subclasses"
        self.client = client
        self.block = client.block
        self.track = False
        self.targets = None
        self.history = msg_id_list()
        self.outstanding = msg_id_set()
        self.results = client.results
        self.executor = ViewExecutor(self)
        self.set_flags(**flags)

    def __repr__(self):
        text = str(self.targets)
        if len(text) > 16:
            text = text[:12] + "...]"
        return "<%s %s>" % (self.__class__.__name__, text)

    def __len__(self):
        if isinstance(self.targets, list):
            return len(self.targets)
        if isinstance(self.targets, int):
            return 1
        return len(self.client)

    def _record(self, ar):
        self.history.extend(ar.msg_ids)
        self.outstanding.update(ar.msg_ids)
        # not a done-callback (a closure per task): _resolve does it, or we do
        # if it resolved before this line (it reads the attribute after set_result)
        ar._view_outstanding = self.outstanding
        if ar.done():
            self.outstanding.difference_update(ar.msg_ids)
        return ar

    def _really_apply(self, f, args=None, kwargs=None, block=None, **options):
        raise NotImplementedError("Implement in subclasses")

    def apply(self, __ipp_f, *args, **kwargs):
        """``f(*args, **kwargs)`` on the engines; blocks if ``self.block``."""
        return self._really_apply(__ipp_f, args, kwargs)

    def apply_async(self, __ipp_f, *args, **kwargs):
        """``f(*args, **kwargs)`` on the engines; returns an AsyncResult."""
        return self._really_apply(__ipp_f, args, kwargs, block=False)

    def apply_sync(self, __ipp_f, *args, **kwargs):
        """``f(*args, **kwargs)`` on the engines; returns the result(s)."""
        return self._really_apply(__ipp_f, args, kwargs, block=True)

    def spin(self):
        self.client.spin()

    def wait(self, jobs=None, timeout=-1):
        """Wait for ``jobs`` (default: this view's history)."""
        return self.client.wait(self.history if jobs is None else jobs, timeout)

    def abort(self, jobs=None, targets=None, block=None):
        block = self.block if block is None else block
        targets = self.targets if targets is None else targets
        jobs = list(self.outstanding) if jobs is None else jobs
        return self.client.abort(jobs=jobs, targets=targets, block=block)

    def queue_status(self, targets=None, verbose=False):
        targets = self.targets if targets is None else targets
        return self.client.queue_status(targets=targets, verbose=verbose)

    def purge_results(self, jobs=[], targets=[]):
        if targets is None or targets == "all":
            targets = self.targets
        return self.client.purge_results(jobs=jobs, targets=targets)

    def shutdown(self, targets=None, restart=False, hub=False, block=None):
        block = self.block if block is None else block
        if targets is None or targets == "all":
            targets = self.targets
        return self.client.shutdown(targets=targets, restart=restart, hub=hub, block=block)

    def get_result(self, indices_or_msg_ids=None, block=None, owner=False):
        """Like Client.get_result; integers index this view's history."""
        if indices_or_msg_ids is None:
            indices_or_msg_ids = -1
        if isinstance(indices_or_msg_ids, int):
            indices_or_msg_ids = self.history[indices_or_msg_ids]
        elif isinstance(indices_or_msg_ids, (list, tuple, set)):
            indices_or_msg_ids = [self.history[j] if isinstance(j, int) else j
                                  for j in indices_or_msg_ids]
        return self.client.get_result(indices_or_msg_ids, block=block, owner=owner)

    def map(self, f, *sequences, **kwargs):
        raise NotImplementedError()

    def map_async(self, f, *sequences, **kwargs):
        if "block" in kwargs:
            raise TypeError("map_async doesn't take a `block` keyword argument.")
        return self.map(f, *sequences, block=False, **kwargs)

    def map_sync(self, f, *sequences, **kwargs):
        if "block" in kwargs:
            raise TypeError("map_sync doesn't take a `block` keyword argument.")
        return self.map(f, *sequences, block=True, **kwargs)

    def imap(self, f, *sequences, **kwargs):
        return iter(self.map_async(f, *sequences, **kwargs))

    def remote(self, block=None, **flags):
        """Decorator: calls of the function run on this view."""
        return remote(self, block=self.block if block is None else block, **flags)

    def parallel(self, dist="b", block=None, **flags):
        """Decorator: calls of the function are split across this view."""
        return parallel(self, dist=dist, block=self.block if block is None else block, **flags)


def _check_callable(f):
    if not callable(f) and not isinstance(f, (serialize.Reference, serialize.PrePickled)):
        raise TypeError("f must be callable, not %s" % type(f))


class DirectView(View):
    """One or more specific engines: ``rc[0]``, ``rc[:]``, ``rc[::2]``.

    ``view['a'] = 5`` pushes, ``view['a']`` pulls.
    """

    def __init__(self, client=None, socket=None, targets=None, **flags):
        super().__init__(client=client, socket=socket, targets=targets, **flags)

    def _target_ids(self, targets):
        return require_engines(self.client._build_targets(targets)[1], targets, self.client)

    def _really_apply(self, f, args=None, kwargs=None, targets=None, block=None, track=None):
        _check_callable(f)
        args = [] if args is None else args
        kwargs = {} if kwargs is None else kwargs
        block = self.block if block is None else block
        targets = self.targets if targets is None else targets
        ids = self._target_ids(targets)
        buffers = serialize.pack_apply(f, args, kwargs)
        futures = self._send_apply(buffers, ids, getname(f))
        ar = AsyncResult(self.client, self._children(futures, targets),
                         fname=getname(f), targets=ids, owner=True)
        self._record(ar)
        return ar.get() if block else ar

    def map(self, f, *sequences, block=None, track=False, return_exceptions=False):
        """Parallel ``map``: one task per target, each on a contiguous chunk."""
        block = self.block if block is None else block
        assert len(sequences) > 0, "must have some sequences to map onto!"
        pf = ParallelFunction(self, f, block=block, return_exceptions=return_exceptions)
        return pf.map(*sequences)

    def execute(self, code, silent=True, targets=None, block=None):
        """Run ``code`` on the engines as a cell (IPython syntax allowed)."""
        block = self.block if block is None else block
        targets = self.targets if targets is None else targets
        ids = self._target_ids(targets)
        futures = self._send_execute(code, ids, silent)
        ar = AsyncResult(self.client, futures[0] if isinstance(targets, int) else futures,
                         fname="execute", targets=ids, owner=True)
        self._record(ar)
        if block:
            ar.get()
            ar.wait_for_output()
        return ar

    # one request per engine; BroadcastView sends one for all
    def _send_apply(self, buffers, ids, fname):
        return [self.client.send_apply_request(buffers, eid) for eid in ids]

    @staticmethod
    def _children(futures, targets):
        """What an apply's AsyncResult is made of: one future for one engine id (its
        result is the engine's), else the list (its result is a list)."""
        return futures[0] if isinstance(targets, int) else futures

    def _send_execute(self, code, ids, silent):
        return [self.client.send_execute_request(code, eid, silent=silent) for eid in ids]

    def run(self, filename, targets=None, block=None):
        """Execute the contents of ``filename`` on the engines."""
        with open(filename) as f:
            code = f.read() + "\n"
        return self.execute(code, block=block, targets=targets)

    def update(self, ns):
        return self.push(ns, block=self.block, track=self.track)

    def push(self, ns, targets=None, block=None, track=None):
        """Assign the names of dict ``ns`` in the engines' namespaces."""
        if not isinstance(ns, dict):
            raise TypeError("Must be a dict, not %s" % type(ns))
        block = self.block if block is None else block
        targets = self.targets if targets is None else targets
        return self._really_apply(engine_ns._push, kwargs=ns, block=block, targets=targets)

    def get(self, key_s):
        return self.pull(key_s, block=True)

    def pull(self, names, targets=None, block=None):
        """The value of name(s) (any expression) on the engines."""
        block = self.block if block is None else block
        targets = self.targets if targets is None else targets
        if isinstance(names, (list, tuple, set)):
            for key in names:
                if not isinstance(key, str):
                    raise TypeError("keys must be str, not type %r" % type(key))
        elif not isinstance(names, str):
            raise TypeError("names must be strs, not %r" % (names,))
        return self._really_apply(engine_ns._pull, (names,), block=block, targets=targets)

    def __getitem__(self, key):
        return self.get(key)

    def __setitem__(self, key, value):
        self.update({key: value})

    def scatter(self, key, seq, dist="b", flatten=False, targets=None, block=None, track=None):
        """Partition ``seq`` across the engines, as ``key`` on each."""
        block = self.block if block is None else block
        targets = self.targets if targets is None else targets
        ids = self._target_ids(targets)
        mapper = Map.dists[dist]()
        futures = []
        for index, eid in enumerate(ids):
            part = mapper.getPartition(seq, index, len(ids))
            value = part[0] if flatten and len(part) == 1 else part
            buffers = serialize.pack_apply(engine_ns._push, (), {key: value})
            futures.append(self.client.send_apply_request(buffers, eid))
        ar = self._record(AsyncResult(self.client, futures, fname="scatter", targets=ids,
                                      owner=True))
        if block:
            ar.get()
            return None
        return ar

    def gather(self, key, dist="b", targets=None, block=None):
        """Join the partitions of ``key`` from the engines."""
        block = self.block if block is None else block
        targets = self.targets if targets is None else targets
        ids = self._target_ids(targets)
        buffers = serialize.pack_apply(engine_ns._pull, (key,), {})
        futures = [self.client.send_apply_request(buffers, eid) for eid in ids]
        ar = self._record(AsyncMapResult(self.client, futures, Map.dists[dist](),
                                         fname="gather"))
        return ar.get() if block else ar

    def clear(self, targets=None, block=None):
        """Clear the engines' namespaces."""
        block = self.block if block is None else block
        targets = self.targets if targets is None else targets
        return self.client.clear(targets=targets, block=block)

    @property
    def importer(self):
        return self.sync_imports(True)

    @contextmanager
    def sync_imports(self, local=True, quiet=False):
        """Imports inside the ``with`` block also happen on the engines."""
        local_import = builtins.__import__
        context_frame = inspect.currentframe().f_back.f_back
        seen, results = set(), []
        view = self

        def view_import(name, globals=None, locals=None, fromlist=(), level=0):
            builtins.__import__ = local_import
            try:
                caller = inspect.currentframe().f_back
                if caller is not context_frame:
                    return local_import(name, globals, locals, fromlist, level)
                if not local:
                    raise NotImplementedError("remote-only imports not yet implemented")
                module = local_import(name, globals, locals, fromlist, level)
                key = name + ":" + ",".join(fromlist or [])
                if level <= 0 and key not in seen:
                    seen.add(key)
                    if not quiet:
                        if fromlist:
                            print("importing %s from %s on engine(s)" % (",".join(fromlist), name))
                        else:
                            print("importing %s on engine(s)" % name)
                    results.append(view.apply_async(engine_ns.import_module, name,
                                                    list(fromlist or []), level))
                return module
            finally:
                builtins.__import__ = view_import

        builtins.__import__ = view_import
        try:
            yield
        finally:
            builtins.__import__ = local_import
        for r in results:
            r.get()

    def use_cloudpickle(self):
        """Captured client globals of __main__ functions win over the engines' names (here and
        on the engines); functions always travel with cloudpickle."""
        serialize.use_cloudpickle()
        return self.apply(serialize.use_cloudpickle)

    def use_dill(self):
        serialize.use_dill()
        return self.apply(serialize.use_dill)

    def use_pickle(self):
        """__main__ functions see only the engines' names (ipyparallel's default)."""
        serialize.use_pickle()
        return self.apply(serialize.use_pickle)

    def activate(self, suffix=""):
        """Register %px, %%px, %autopx, %pxresult and %pxconfig (+ suffix)
        for this view in the running IPython."""
        from IPython import get_ipython

        ip = get_ipython()
        if ip is None:
            import warnings

            warnings.warn("The IPython parallel magics (%px, etc.) only work within IPython.")
            return
        from .magics import ParallelMagics

        ip.magics_manager.register(ParallelMagics(ip, self, suffix))


class BroadcastView(DirectView):
    """A DirectView whose apply and execute send one request for all its
    engines: the controller sends it on to each (docs/parallel-protocol.md,
    "Broadcast"). With ``is_coalescing``, an apply (push and pull too) is one
    msg_id whose result is the engines' list (coalescing.py), as in ipyparallel;
    execute, scatter and gather do not coalesce there, nor here."""

    is_coalescing = False

    def _send_apply(self, buffers, ids, fname):
        return self.client.send_broadcast("apply_request", {}, ids, buffers=buffers, fname=fname,
                                          metadata={"is_coalescing": bool(self.is_coalescing)})

    def _children(self, futures, targets):
        if self.is_coalescing:  # one future, whose result is the list
            return futures[0]
        return DirectView._children(futures, targets)

    def _send_execute(self, code, ids, silent):
        return self.client.send_broadcast("execute_request", execute_content(code, silent), ids)

    def map(self, f, *sequences, **kwargs):
        raise NotImplementedError("BroadcastView.map not yet implemented")


__all__ = ["DirectView", "BroadcastView", "View"]


def __getattr__(name):
    # ipyparallel defines LoadBalancedView in this module (``from ipyparallel.client.view import
    # LoadBalancedView``); here it lives in lbview, which imports this module.
    if name == "LoadBalancedView":
        from .lbview import LoadBalancedView

        return LoadBalancedView
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

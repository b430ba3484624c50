"""``@remote`` and ``@parallel``: functions whose calls run on a view."""

import contextlib
import warnings
from inspect import signature

from .. import _pickle_cache, serialize
from . import map as Map
from .asyncresult import AsyncMapResult
from .util import getname, require_engines


def remote(view, block=None, **flags):
    """Decorator: calling the function applies it on ``view``."""
    def wrap(f):
        return RemoteFunction(view, f, block=block, **flags)
    return wrap


def parallel(view, dist="b", block=None, ordered=True, **flags):
    """Decorator: calling the function with sequences splits them across
    ``view``'s engines (``f.map`` maps element-wise)."""
    def wrap(f):
        return ParallelFunction(view, f, dist=dist, block=block, ordered=ordered, **flags)
    return wrap


class _FunctionSignature:
    """A RemoteFunction's ``__signature__``: its function's, found when asked (40 µs each
    time, which every ``view.map`` call paid, since it makes a ParallelFunction)."""

    def __get__(self, rf, owner=None):
        if rf is None:
            return None  # the class itself: inspect then reads its __init__
        try:
            return getattr(rf.func, "__signature__", None) or signature(rf.func)
        except Exception:
            return None


class RemoteFunction:
    """``f`` bound to a view: ``rf(*args)`` is ``view.apply(f, *args)`` with
    ``block`` and the other flags set for the call."""

    def __init__(self, view, f, block=None, **flags):
        self.view = view
        self.func = f
        self.block = block
        self.flags = flags
        self.__name__ = getname(f)
        if getattr(f, "__doc__", None):
            self.__doc__ = "%s wrapping:\n%s" % (self.__class__.__name__, f.__doc__)

    __signature__ = _FunctionSignature()

    def __call__(self, *args, **kwargs):
        block = self.view.block if self.block is None else self.block
        with self.view.temp_flags(block=block, **self.flags):
            return self.view.apply(self.func, *args, **kwargs)


# Runs on the engines, so it lives in the light engine-side module: importing
# ensemble.client there would cost ~40 ms on the first map.
from .._engine.namespace import map_items as _map  # noqa: E402


class ParallelFunction(RemoteFunction):
    """``f`` called once per engine (or per chunk on a load-balanced view)
    on a partition of each sequence; ``pf.map(*seqs)`` maps ``f`` over the
    items instead. Partitions follow ``dist`` ('b' blocks, 'r' round-robin)."""

    def __init__(self, view, f, dist="b", block=None, chunksize=None, ordered=True,
                 return_exceptions=False, **flags):
        super().__init__(view, f, block=block, **flags)
        self.chunksize = chunksize
        self.ordered = ordered
        self.return_exceptions = return_exceptions
        self.mapObject = Map.dists[dist]()

    def __call__(self, *sequences, **kwargs):
        mapping = kwargs.pop("__ipp_mapping", False)
        if kwargs:
            raise TypeError("Unexpected keyword arguments: %s" % kwargs)
        sequences = list(sequences)
        lens = []
        for i, seq in enumerate(sequences):
            try:
                lens.append(len(seq))
            except TypeError:
                sequences[i] = list(seq)
                lens.append(len(sequences[i]))
        maxlen = max(lens) if lens else 0
        # nothing to map: [] at once, or a finished AsyncMapResult of [] (ipyparallel 7.1
        # returns a plain list either way, where its documentation says an AsyncMapResult)
        if not mapping and min(lens) != maxlen:
            raise ValueError("all sequences must have equal length, but have %s" % lens)
        client = self.view.client
        balanced = "Balanced" in type(self.view).__name__
        if balanced:
            size = self.chunksize or 1
            nparts = maxlen // size + int(maxlen % size > 0)
            targets = [None] * nparts
        else:
            if self.chunksize:
                warnings.warn("`chunksize` is ignored unless load balancing", UserWarning)
            targets = self.view.targets
            if targets is None or targets == "all" or not isinstance(targets, (int, list)):
                targets = client._build_targets(targets)[1]
            elif isinstance(targets, int):
                targets = [targets]
            nparts = len(require_engines(targets, self.view.targets, client))
        # pickled once for every chunk (a chunk per item by default in a balanced map), and
        # not again for the next map of the same function while that is safe (_pickle_cache)
        func = self.func
        if nparts > 1:
            func = _pickle_cache.cached(func, serialize.PrePickled)
            if type(func) is not serialize.PrePickled:
                func = serialize.PrePickled(self.func)
        futures = []
        # a balanced map's chunks all go through one view: its flags are set once, not per chunk
        with contextlib.ExitStack() as flagged:
            if balanced:
                flagged.enter_context(self.view.temp_flags(block=False, **self.flags))
            for index, target in enumerate(targets):
                parts = [self.mapObject.getPartition(seq, index, nparts, maxlen) for seq in sequences]
                if sum(len(p) for p in parts) == 0:
                    continue
                f, args = (_map, [func] + parts) if mapping else (func, parts)
                if balanced and hasattr(self.view, "_send_map_chunk"):
                    futures.append(self.view._send_map_chunk(f, args))  # flags set above
                    continue
                if balanced:
                    ar = self.view.apply(f, *args)
                elif not self.flags:
                    # what client[target].apply would send, without a view and an
                    # AsyncResult per engine that nothing else sees
                    futures.append(client.send_apply_request(serialize.pack_apply(f, args, {}), target))
                    continue
                else:
                    view = client[target]
                    with view.temp_flags(block=False, **self.flags):
                        ar = view.apply(f, *args)
                ar.owner = False
                futures.extend(ar._children)
        # it owns its chunks: once it has their results, the client's caches (results,
        # metadata, futures) let go of them, as ipyparallel 7.1's do of every finished
        # request; a client running for days of maps kept them all before
        result = AsyncMapResult(client, futures, self.mapObject, fname=getname(self.func),
                                ordered=self.ordered, return_exceptions=self.return_exceptions, owner=True)
        if balanced and hasattr(self.view, "_send_map_chunk"):
            # its chunks leave the view's outstanding when the map is done
            result._view_outstanding = self.view.outstanding
            if result.done():
                self.view.outstanding.difference_update(result.msg_ids)
        # block=None: the view's block flag at the time of the call, as RemoteFunction and as
        # ipyparallel documents it (its 7.1 ParallelFunction returns the AsyncMapResult then)
        block = self.view.block if self.block is None else self.block
        return result.get() if block else result

    def map(self, *sequences):
        """Call ``f`` on each item of the sequence(s) (shorter ones are
        padded with None, like the builtin on Python 2)."""
        return self(*sequences, __ipp_mapping=True)


__all__ = ["remote", "parallel", "RemoteFunction", "ParallelFunction"]

"""Partitioning of sequences for scatter, gather and map.

``Map`` ('b', the default) gives engine p of q a contiguous block; the first
``n % q`` blocks hold one extra item. ``RoundRobinMap`` ('r') gives engine p
the items p, p+q, p+2q, ... Both match ipyparallel's partitions exactly.
"""

import sys
from itertools import chain, islice


def is_array(obj):
    """Whether ``obj`` is a numpy array (without importing numpy)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, numpy.ndarray)


class Map:
    """Contiguous blocks."""

    def getPartition(self, seq, p, q, n=None):
        """Partition ``p`` of ``q`` of ``seq`` (whose length is ``n``)."""
        n = len(seq) if n is None else n
        if p < 0 or p >= q:
            raise ValueError("must have 0 <= p <= q, but have p=%s,q=%s" % (p, q))
        base, extra = divmod(n, q)
        low = p * base + min(p, extra)
        high = low + base + (1 if p < extra else 0)
        try:
            return seq[low:high]
        except TypeError:
            return list(islice(seq, low, high))

    def joinPartitions(self, listOfPartitions):
        return self.concatenate(listOfPartitions)

    def concatenate(self, listOfPartitions):
        if not listOfPartitions:  # a map over nothing
            return []
        first = listOfPartitions[0]
        if is_array(first):
            return sys.modules["numpy"].concatenate(listOfPartitions)
        if isinstance(first, (list, tuple)):
            return list(chain.from_iterable(listOfPartitions))
        return listOfPartitions


class RoundRobinMap(Map):
    """Striped partitions."""

    def getPartition(self, seq, p, q, n=None):
        n = len(seq) if n is None else n
        return seq[p:n:q]

    def joinPartitions(self, listOfPartitions):
        if not listOfPartitions:  # a map over nothing
            return []
        first = listOfPartitions[0]
        if is_array(first):
            return self.flatten_array(listOfPartitions)
        if isinstance(first, (list, tuple)):
            return self.flatten_list(listOfPartitions)
        return listOfPartitions

    def flatten_array(self, listOfPartitions):
        numpy = sys.modules["numpy"]
        first = listOfPartitions[0]
        total = sum(part.shape[0] for part in listOfPartitions)
        out = numpy.empty((total,) + first.shape[1:], dtype=first.dtype)
        q = len(listOfPartitions)
        for p, part in enumerate(listOfPartitions):
            out[p:total:q] = part
        return out

    def flatten_list(self, listOfPartitions):
        out = []
        longest = max(len(part) for part in listOfPartitions)
        for i in range(longest):
            out.extend(part[i] for part in listOfPartitions if len(part) > i)
        return out


def mappable(obj):
    return isinstance(obj, (tuple, list)) or is_array(obj)


dists = {"b": Map, "r": RoundRobinMap}

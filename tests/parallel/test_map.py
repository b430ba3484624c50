"""Scatter/gather partitions are those of ipyparallel."""

import numpy as np
import pytest
from ipyparallel.client import map as ipp_map

from ensemble.client import map as our_map


@pytest.mark.parametrize("dist", ["b", "r"])
def test_partitions_match_ipyparallel(dist):
    ours, theirs = our_map.dists[dist](), ipp_map.dists[dist]()
    for n in range(0, 40):
        seq = list(range(n))
        for q in range(1, 9):
            for p in range(q):
                assert ours.getPartition(seq, p, q) == theirs.getPartition(seq, p, q), (n, p, q)


def test_array_partitions_match_ipyparallel():
    a = np.arange(101)
    for q in (1, 2, 3, 7):
        for p in range(q):
            np.testing.assert_array_equal(our_map.Map().getPartition(a, p, q),
                                          ipp_map.Map().getPartition(a, p, q))


def test_iterators_are_sliced_with_islice():
    assert our_map.Map().getPartition(iter(range(10)), 1, 3, n=10) == [4, 5, 6]


def test_bad_partition_index_raises():
    with pytest.raises(ValueError):
        our_map.Map().getPartition([1, 2], 3, 2)


def test_join_restores_lists_and_arrays():
    m, r = our_map.Map(), our_map.RoundRobinMap()
    seq = list(range(11))
    parts = [m.getPartition(seq, p, 4) for p in range(4)]
    assert m.joinPartitions(parts) == seq
    rparts = [r.getPartition(seq, p, 4) for p in range(4)]
    assert r.joinPartitions(rparts) == seq
    a = np.arange(11) * 1.5
    aparts = [r.getPartition(a, p, 3) for p in range(3)]
    np.testing.assert_array_equal(r.joinPartitions(aparts), a)
    np.testing.assert_array_equal(m.joinPartitions([a[:5], a[5:]]), a)

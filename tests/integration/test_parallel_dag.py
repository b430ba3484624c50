"""A directed acyclic graph of tasks mapped onto ``after`` dependencies, as ipyparallel's
reference page "DAG Dependencies" walks through it (without NetworkX): submitted in
topological order, every task starts only after all of its predecessors completed; and a
failure makes every task downstream of it impossible, while the rest still run."""

import random

import pytest

import ensemble as ipp
from parallel_fixtures import rc, started  # noqa: F401 (fixtures)

pytestmark = pytest.mark.ensemble_only


def random_dag(nodes, edges, seed):
    """Edges (a, b), a < b: b depends on a; numbering the nodes is a topological order."""
    rng = random.Random(seed)
    graph = set()
    while len(graph) < edges:
        a, b = sorted(rng.sample(range(nodes), 2))
        graph.add((a, b))
    return {node: sorted(a for a, b in graph if b == node) for node in range(nodes)}


def random_wait(seed):
    import random
    import time

    time.sleep(random.Random(seed).uniform(0.0, 0.02))
    return seed


def fail_at(node, seed):
    if node == 0:
        raise ValueError("node 0 fails")
    return random_wait(seed)


@pytest.mark.deadline(120)
def test_every_task_of_a_random_dag_starts_after_all_its_predecessors_completed(rc):
    predecessors = random_dag(32, 128, seed=1)
    view = rc.load_balanced_view()
    results = {}
    for node, before in predecessors.items():
        with view.temp_flags(after=[results[p] for p in before], block=False):
            results[node] = view.apply(random_wait, node)
    assert view.wait(list(results.values()), timeout=60)
    assert {node: ar.get() for node, ar in results.items()} == {node: node for node in predecessors}
    for node, before in predecessors.items():
        started = results[node].metadata["started"]
        for p in before:
            assert results[p].metadata["completed"] <= started, (p, node)


def _downstream(predecessors, failed):
    out = {failed}
    for node, before in predecessors.items():  # in topological order
        if any(p in out for p in before):
            out.add(node)
    return out


@pytest.mark.deadline(120)
def test_a_failed_task_makes_everything_downstream_impossible_and_the_rest_runs(rc):
    predecessors = random_dag(16, 24, seed=2)
    predecessors[0] = []
    doomed = _downstream(predecessors, 0)
    assert 1 < len(doomed) < len(predecessors), "the graph has both kinds of node"
    view = rc.load_balanced_view()
    results = {}
    for node, before in predecessors.items():
        with view.temp_flags(after=[results[p] for p in before]):
            results[node] = view.apply_async(fail_at, node, node)
    for node, ar in results.items():
        if node == 0:
            with pytest.raises(ipp.RemoteError, match="ValueError"):
                ar.get(30)
        elif node in doomed:
            with pytest.raises(ipp.RemoteError) as info:
                ar.get(30)
            assert info.value.ename == "ImpossibleDependency", node
        else:
            assert ar.get(30) == node

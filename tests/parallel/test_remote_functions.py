"""What a map or a remote function costs and keeps, on the fake core (fake_core.py)."""

import inspect

from ensemble import serialize
from ensemble.client.remotefunction import ParallelFunction, RemoteFunction

FACTOR = 2


def scaled(x):
    return FACTOR * x


def test_a_map_of_the_same_function_again_does_not_pickle_it_again(rc, monkeypatch):
    v = rc[:]
    real_pickler = serialize._pickler
    pickled = []

    def counting_pickler():
        pickled.append(1)
        return real_pickler()

    monkeypatch.setattr(serialize, "_pickler", counting_pickler)
    assert v.map_sync(scaled, range(8)) == [2 * x for x in range(8)]
    assert pickled, "the first map pickles its function"
    pickled.clear()
    assert v.map_sync(scaled, range(8)) == [2 * x for x in range(8)]
    assert not pickled
    for _ in range(3):  # a new lambda each time, of the same code
        assert v.map_sync(lambda x: -x, range(4)) == [0, -1, -2, -3]
    assert pickled == [1], "only the first map of the lambda pickled it"


def test_a_map_after_a_global_changed_sends_the_new_value(rc, monkeypatch):
    v = rc[:]
    assert v.map_sync(scaled, range(4)) == [0, 2, 4, 6]
    monkeypatch.setattr(__import__(__name__), "FACTOR", 10)
    assert v.map_sync(scaled, range(4)) == [0, 10, 20, 30]


def test_a_remote_function_has_its_functions_signature(rc):
    def f(a, b=2, *, c):
        pass

    v = rc[:]
    assert inspect.signature(RemoteFunction(v, f)) == inspect.signature(f)
    assert inspect.signature(ParallelFunction(v, f)) == inspect.signature(f)
    assert str(inspect.signature(RemoteFunction)) == "(view, f, block=None, **flags)"
    assert inspect.signature(RemoteFunction(v, print)) == inspect.signature(print)

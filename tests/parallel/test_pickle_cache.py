"""A function sent again is not pickled again while nothing it carries can have changed
(ensemble._pickle_cache, used by serialize.pack_apply)."""

import gc
import math
import weakref

import numpy

from ensemble import _pickle_cache, serialize

SCALE = 3
ITEMS = [1, 2]


def scaled(x, offset=0):
    return SCALE * x + offset + math.floor(0.5)


def counted():
    return len(ITEMS)


def call(buffers, namespace=None):
    f, args, kwargs = serialize.unpack_apply(buffers, namespace if namespace is not None else {})
    return f(*args, **kwargs)


def test_a_function_sent_again_reuses_its_pickle_and_still_runs():
    first = serialize.pack_apply(scaled, (2,), {"offset": 1})
    second = serialize.pack_apply(scaled, (5,), {})
    assert call(first) == 7 and call(second) == 15
    hit = _pickle_cache._cache[scaled.__code__][1]
    assert hit.obj is None  # the cache does not keep the function alive
    assert bytes(second[0]).count(hit._payload) == 1  # the same pickle, embedded


def test_a_changed_global_or_default_is_pickled_afresh():
    global SCALE
    assert call(serialize.pack_apply(scaled, (1,), {})) == 3
    SCALE = 10
    try:
        assert call(serialize.pack_apply(scaled, (1,), {})) == 10
    finally:
        SCALE = 3
    scaled.__defaults__ = (100,)
    try:
        assert call(serialize.pack_apply(scaled, (1,), {})) == 103
    finally:
        scaled.__defaults__ = (0,)


FLAG = 1


def kinds(x=1):
    return type(FLAG).__name__, type(x).__name__


def test_a_global_or_default_changed_to_an_equal_value_of_another_type_is_pickled_afresh():
    # a loop sending one function takes a shortcut (identities, not the fingerprint): 1 == True
    # there must still count as a change
    global FLAG
    for _ in range(2):
        assert call(serialize.pack_apply(kinds, (), {})) == ("int", "int")
    FLAG = True
    try:
        assert call(serialize.pack_apply(kinds, (), {})) == ("bool", "int")
        kinds.__defaults__ = (True,)
        assert call(serialize.pack_apply(kinds, (), {})) == ("bool", "bool")
    finally:
        FLAG = 1
        kinds.__defaults__ = (1,)
    assert call(serialize.pack_apply(kinds, (), {})) == ("int", "int")


def test_a_function_carrying_a_mutable_value_is_never_cached():
    assert serialize.pack_apply(counted, (), {}) and call(serialize.pack_apply(counted, (), {})) == 2
    ITEMS.append(3)
    try:
        assert call(serialize.pack_apply(counted, (), {})) == 3  # the list as it is now
    finally:
        ITEMS.pop()
    assert counted.__code__ not in _pickle_cache._cache


def test_closures_and_function_attributes_are_not_cached():
    k = 1

    def add(x):
        return x + k

    assert call(serialize.pack_apply(add, (1,), {})) == 2
    k = 5
    assert call(serialize.pack_apply(add, (1,), {})) == 6
    scaled.note = "attribute"
    try:
        assert _pickle_cache.cached(scaled, serialize.PrePickled) is scaled
    finally:
        del scaled.note


def test_lambdas_made_in_a_loop_share_one_entry_that_goes_with_their_code():
    made = [lambda x: x * SCALE for _ in range(50)]
    results = [call(serialize.pack_apply(f, (i,), {})) for i, f in enumerate(made)]
    assert results == [i * 3 for i in range(50)]
    (code,) = {f.__code__ for f in made}
    assert code in _pickle_cache._cache
    code_of_a_function_now_gone = send_a_function_that_then_goes()
    gc.collect()
    assert code_of_a_function_now_gone() is None  # the cache did not keep it alive


def send_a_function_that_then_goes():
    f = eval(compile("lambda x: x + 1", "<gone>", "eval"))
    assert call(serialize.pack_apply(f, (1,), {})) == 2
    assert f.__code__ in _pickle_cache._cache
    return weakref.ref(f.__code__)


def test_arguments_that_need_cloudpickle_still_get_it():
    buffers = serialize.pack_apply(scaled, (3,), {"offset": serialize.Reference("base")})
    assert call(buffers, {"base": 4}) == 13
    square = lambda v: v * v  # noqa: E731 (a function as an argument travels by value)
    f, args, _ = serialize.unpack_apply(serialize.pack_apply(map, (square, [1, 2]), {}), {})
    assert list(f(*args)) == [1, 4]


def test_a_map_chunk_of_a_range_skips_cloudpickle_and_still_runs(monkeypatch):
    from ensemble._engine.namespace import map_items

    chunk_function = serialize.PrePickled(lambda v: v * SCALE)  # as ParallelFunction sends it
    pack = lambda: serialize.pack_apply(map_items, (chunk_function, range(4, 6)), {})  # noqa: E731
    expected = call(pack())
    with_buffers = serialize.PrePickled(numpy.zeros(50_000))  # out-of-band: cloudpickle's job

    def no_cloudpickle():
        raise AssertionError("cloudpickle was used")

    monkeypatch.setattr(serialize, "_pickler", no_cloudpickle)
    assert call(pack()) == expected == [12, 15]
    try:
        serialize.pack_apply(map_items, (with_buffers, range(2)), {})
    except AssertionError as refused:
        assert "cloudpickle" in str(refused)
    else:
        raise AssertionError("a PrePickled with out-of-band buffers skipped cloudpickle")

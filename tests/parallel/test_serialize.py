"""Serialization of calls and results (ensemble.serialize)."""

import pickle
import sys

import numpy as np
import pytest

from ensemble import serialize
from ensemble.serialize import Reference


def test_function_args_and_kwargs_round_trip():
    f, args, kwargs = serialize.unpack_apply(
        serialize.pack_apply(lambda a, b=1: a + b, (2,), {"b": 3}), {})
    assert f(*args, **kwargs) == 5


def test_closure_travels_with_its_cells():
    k = 10

    def add(x):
        return x + k

    f, args, _ = serialize.unpack_apply(serialize.pack_apply(add, (1,), {}), {})
    assert f(*args) == 11


def test_large_array_travels_out_of_band_without_copy():
    a = np.arange(100_000, dtype=np.float64)
    buffers = serialize.pack_apply(len, (a,), {})
    assert len(buffers) == 2
    assert buffers[1].nbytes == a.nbytes
    assert len(buffers[0]) < 1000  # the data is not in the pickle stream
    assert np.shares_memory(np.frombuffer(buffers[1], dtype=np.float64), a)
    _, (b,), _ = serialize.unpack_apply(buffers, {})
    np.testing.assert_array_equal(a, b)


def test_small_array_stays_in_band():
    buffers = serialize.pack_result(np.arange(4))
    assert len(buffers) == 1
    np.testing.assert_array_equal(serialize.unpack_result(buffers), np.arange(4))


def test_result_with_several_arrays_keeps_buffer_order():
    value = {"x": np.ones((300, 3)), "y": np.arange(5000, dtype=np.int32)}
    out = serialize.unpack_result(serialize.pack_result(value))
    np.testing.assert_array_equal(out["x"], value["x"])
    np.testing.assert_array_equal(out["y"], value["y"])


def test_reference_is_evaluated_in_engine_namespace_at_call_time():
    ns = {"a": 123, "g": [7, 8]}
    buffers = serialize.pack_apply(lambda *x, **k: (x, k),
                                   (Reference("a"), [Reference("g[1]")]),
                                   {"d": {"k": Reference("a")}})
    f, args, kwargs = serialize.unpack_apply(buffers, ns)
    assert f(*args, **kwargs) == ((123, [8]), {"d": {"k": 123}})


def test_reference_to_missing_name_raises_name_error():
    with pytest.raises(NameError):
        serialize.unpack_apply(serialize.pack_apply(len, (Reference("nope"),), {}), {})


def test_reference_rejects_non_string_name():
    with pytest.raises(TypeError):
        Reference(5)


def test_main_function_runs_with_namespace_as_globals():
    main = sys.modules["__main__"].__dict__
    main["_ser_test_captured"] = "client value"
    try:
        code = compile("def f():\n    return (pushed, _ser_test_captured)\n", "<main>", "exec")
        exec(code, main)
        f = main.pop("f")
        ns = {"pushed": 1, "_ser_test_captured": "engine value"}
        g, _, _ = serialize.unpack_apply(serialize.pack_apply(f, (), {}), ns)
        assert g.__globals__ is ns
        assert g() == (1, "engine value")  # the engine's own value wins
        ns2 = {"pushed": 2}
        g2, _, _ = serialize.unpack_apply(serialize.pack_apply(f, (), {}), ns2)
        assert g2() == (2, "client value")  # captured names are added first
        assert ns2["_ser_test_captured"] == "client value"
    finally:
        main.pop("_ser_test_captured", None)


def test_function_from_user_module_travels_by_value(tmp_path, monkeypatch):
    (tmp_path / "ser_user_mod.py").write_text("def triple(x):\n    return 3 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import ser_user_mod

    buffers = serialize.pack_apply(ser_user_mod.triple, (2,), {})
    del sys.modules["ser_user_mod"]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    f, args, _ = serialize.unpack_apply(buffers, {})
    assert f(*args) == 6


_STATEFUL_MODULE = """
import threading
lock = threading.Lock()
counter = 0
def bump():
    global counter
    with lock:
        counter += 1
    return counter
"""


def test_a_user_module_function_runs_in_its_module_where_the_receiver_can_import_it(tmp_path, monkeypatch):
    (tmp_path / "ser_state_mod.py").write_text(_STATEFUL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import ser_state_mod

    # its lock cannot be pickled: the function goes without its globals, and finds them
    # in the module, whose state lives on from call to call
    for expected in (1, 2):
        f, _, _ = serialize.unpack_apply(serialize.pack_apply(ser_state_mod.bump, (), {}), {})
        assert f.__globals__ is ser_state_mod.__dict__
        assert f() == expected
    assert ser_state_mod.counter == 2
    del sys.modules["ser_state_mod"]


def test_a_user_module_function_the_receiver_cannot_import_brings_the_globals_it_uses(tmp_path, monkeypatch):
    (tmp_path / "ser_values_mod.py").write_text("scale = 4\ndef times(x):\n    return scale * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import ser_values_mod

    buffers = serialize.pack_apply(ser_values_mod.times, (2,), {})
    del sys.modules["ser_values_mod"]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    f, args, _ = serialize.unpack_apply(buffers, {})
    assert f(*args) == 8 and f.__globals__["scale"] == 4


def test_library_function_travels_by_reference():
    payload = bytes(serialize.pack_result(np.linalg.norm)[0])
    assert len(payload) < 200
    assert serialize.unpack_result([payload]) is np.linalg.norm


def test_prepickled_unwraps_to_its_object():
    pp = serialize.PrePickled([1, 2])
    assert serialize.unpack_result(serialize.pack_result(pp)) == [1, 2]


def test_payload_is_a_protocol_5_pickle():
    payload = bytes(serialize.pack_result({"a": 1})[0])
    assert payload[:2] == b"\x80\x05"
    assert pickle.loads(payload) == {"a": 1}


def _main_function(source, name="f"):
    main = sys.modules["__main__"].__dict__
    exec(compile(source, "<main>", "exec"), main)
    return main.pop(name)


def test_a_main_function_sent_again_is_unpickled_once_and_each_call_gets_its_own():
    f = _main_function("def f(x, scale=2):\n    return x * scale\n")
    g1, args1, _ = serialize.unpack_apply(serialize.pack_apply(f, (3,), {}), {})
    g2, args2, _ = serialize.unpack_apply(serialize.pack_apply(f, (4,), {}), {})
    assert (g1(*args1), g2(*args2)) == (6, 8)
    assert g1.__code__ is g2.__code__  # the engine's one copy, not unpickled again
    assert g1 is not g2  # but a function of its own per call
    g1.note = "set by one call"
    assert not hasattr(g2, "note")


def test_a_function_pickled_once_travels_as_its_pickles_bytes_and_arrives_a_function(monkeypatch):
    # the C pickler writes bytes without calling back into Python, as a PrePickled's
    # reduction made it do for every call
    f = _main_function("def f(x):\n    return x + 1\n")
    serialize.pack_apply(f, (0,), {})  # the first call pickles f, the next ones reuse that
    monkeypatch.setattr(serialize.PrePickled, "__reduce__", lambda self: pytest.fail("reduced"))
    buffers = serialize.pack_apply(f, (1,), {})
    assert len(buffers) == 1 and type(pickle.loads(buffers[0])[0]) is bytes
    g, args, kwargs = serialize.unpack_apply(buffers, {})
    assert callable(g) and g(*args, **kwargs) == 2


def test_a_main_function_carrying_something_mutable_is_unpickled_for_every_call():
    # a map sends its function pre-pickled whatever it carries
    f = _main_function("def f(item, seen=[]):\n    seen.append(item)\n    return len(seen)\n")
    sent = [serialize.pack_apply(map, (serialize.PrePickled(f), [i]), {}) for i in range(2)]
    calls = [serialize.unpack_apply(buffers, {}) for buffers in sent]
    assert [list(g(*args)) for g, args, _ in calls] == [[1], [1]]  # a fresh default each time
    assert calls[0][1][0].__code__ is not calls[1][1][0].__code__
    pure = _main_function("def pure(x):\n    return -x\n", "pure")
    loaded = [serialize.unpack_apply(serialize.pack_apply(map, (serialize.PrePickled(pure), [i]), {}), {})
              for i in range(2)]
    assert loaded[0][1][0].__code__ is loaded[1][1][0].__code__  # the guard is what kept them apart


def test_a_plain_result_skips_cloudpickle_and_others_still_get_it(monkeypatch):
    def no_cloudpickle():
        raise AssertionError("cloudpickle was used")

    monkeypatch.setattr(serialize, "_pickler", no_cloudpickle)
    for value in (None, 3, 2.5, "text", b"bytes", [1, "a", None], (True, 2), range(3)):
        assert serialize.unpack_result(serialize.pack_result(value)) == value
    with pytest.raises(AssertionError, match="cloudpickle"):
        serialize.pack_result(lambda: 1)
    monkeypatch.undo()
    arrays = serialize.pack_result([np.zeros(1000)])  # not plain: its array still goes out of band
    assert len(arrays) == 2 and serialize.unpack_result(arrays)[0].shape == (1000,)


def test_a_reused_function_changed_by_whoever_got_it_is_unpickled_afresh():
    tagged = _main_function("def tagged():\n    return 1\n", "tagged")
    payload = serialize.pack_result(serialize.PrePickled(tagged))  # unpickled without rebind()
    first = serialize.unpack_result(payload)
    assert serialize.unpack_result(payload) is first
    first.tag = "set on it"
    again = serialize.unpack_result(payload)
    assert again is not first and not hasattr(again, "tag")


# -- long lists (a map's chunks and their results) -------------------------------------------

def _no_cloudpickle(monkeypatch):
    def refuse(obj):
        raise AssertionError("went through cloudpickle")

    monkeypatch.setattr(serialize, "_dumps", refuse)


def test_a_long_list_of_scalars_is_pickled_without_cloudpickle_and_arrives_whole(monkeypatch):
    f = serialize.PrePickled(lambda chunk: [x * 2 for x in chunk])  # a map's function, pickled once
    _no_cloudpickle(monkeypatch)
    values = list(range(5000)) + [1.5, "text", b"bytes", None, True, (1, 2), {"k": [3]}]
    assert serialize.unpack_result(serialize.pack_result(values)) == values
    g, args, kwargs = serialize.unpack_apply(serialize.pack_apply(f, [values[:5000]], {}), {})
    assert g(*args, **kwargs) == [x * 2 for x in range(5000)] and kwargs == {}


def test_a_long_list_holding_a_function_or_an_array_still_goes_through_cloudpickle():
    def double(x):
        return 2 * x

    functions = serialize.unpack_result(serialize.pack_result([double] * 100))
    assert [f(1) for f in functions] == [2] * 100
    big = np.arange(100_000)
    buffers = serialize.pack_result([1] * 100 + [big])
    assert len(buffers) == 2, "the array's buffer travels out of band"
    assert (serialize.unpack_result(buffers)[-1] == big).all()


def test_a_long_list_with_references_and_a_pickled_function_skips_cloudpickle(monkeypatch):
    f = serialize.PrePickled(lambda chunk, scale: [x * scale for x in chunk])
    _no_cloudpickle(monkeypatch)
    buffers = serialize.pack_apply(f, [list(range(1000)), Reference("scale")], {})
    g, args, kwargs = serialize.unpack_apply(buffers, {"scale": 3})
    assert g(*args, **kwargs) == [x * 3 for x in range(1000)]

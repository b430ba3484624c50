"""Exception names and hierarchy match ipyparallel's."""

import inspect

import ipyparallel.error as ipp_error
import pytest

import ensemble
from ensemble import error


def _classes(module):
    return {n: c for n, c in vars(module).items()
            if inspect.isclass(c) and issubclass(c, BaseException) and not n.startswith("_")}


def test_every_ipyparallel_exception_exists_with_same_bases():
    ours = _classes(error)
    for name, theirs in _classes(ipp_error).items():
        assert name in ours, name
        assert [c.__name__ for c in ours[name].__mro__] == \
               [c.__name__ for c in theirs.__mro__], name


def test_timeout_error_is_the_builtin():
    assert error.TimeoutError is TimeoutError
    assert ensemble.TimeoutError is TimeoutError


def test_error_module_is_reachable_as_attribute():
    assert ensemble.error.RemoteError is error.RemoteError
    assert ensemble.RemoteError is error.RemoteError


def test_remote_error_carries_fields_and_renders_traceback():
    e = error.RemoteError("ValueError", "bad", "line1\nline2", {"engine_id": 3})
    assert (e.ename, e.evalue, e.engine_info["engine_id"]) == ("ValueError", "bad", 3)
    assert str(e) == "ValueError(bad)"
    assert repr(e) == "<Remote[3]:ValueError(bad)>"
    assert e._render_traceback_() == ["line1", "line2"]


def test_engine_failure_is_both_remote_and_engine_error():
    e = error.unwrap_exception({"ename": "EngineError", "evalue": "died",
                                "traceback": [], "engine_info": {"engine_id": 1}})
    assert isinstance(e, error.RemoteError) and isinstance(e, error.EngineError)
    assert e.ename == "EngineError"


def test_collect_exceptions_builds_composite_and_passes_clean_results():
    assert error.collect_exceptions([1, 2], "f") == [1, 2]
    errs = [error.RemoteError("ZeroDivisionError", "x", "tb", {"engine_id": i,
                                                              "method": "apply"})
            for i in range(6)]
    with pytest.raises(error.CompositeError) as info:
        error.collect_exceptions([1] + errs, "f")
    ce = info.value
    assert len(ce.elist) == 6
    assert "more exceptions" in ce.render_traceback()[-1]
    assert "[0:apply]: ZeroDivisionError: x" in str(ce)
    with pytest.raises(error.RemoteError) as single:
        ce.raise_exception(2)
    assert single.value.engine_info["engine_id"] == 2
    with pytest.raises(IndexError):
        ce.raise_exception(10)


def test_nested_composite_errors_are_flattened():
    inner = error.CompositeError("m", [("A", "a", "", {}), ("B", "b", "", {})])
    with pytest.raises(error.CompositeError) as info:
        error.collect_exceptions([inner, error.RemoteError("C", "c", "", {})])
    assert [e[0] for e in info.value.elist] == ["A", "B", "C"]


def test_a_composite_error_wrapped_in_a_remote_error_is_flattened_as_ipyparallel_does():
    inner = error.CompositeError("m", [("A", "a", "", {}), ("B", "b", "", {})])
    wrapped = error.RemoteError("CompositeError", inner, "", {})
    with pytest.raises(error.CompositeError) as info:
        error.collect_exceptions({0: wrapped, 1: error.RemoteError("C", "c", "", {}), 2: 3})
    assert [e[0] for e in info.value.elist] == ["A", "B", "C"]
    # a RemoteError merely named so, without the errors inside, is one error
    with pytest.raises(error.CompositeError) as named:
        error.collect_exceptions([error.RemoteError("CompositeError", "text", "", {})])
    assert [e[0] for e in named.value.elist] == ["CompositeError"]


def test_no_engines_registered_message_suggests_waiting():
    assert "wait_for_engines" in str(error.NoEnginesRegistered())

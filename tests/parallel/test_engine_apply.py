"""ensemble._engine.apply.run, called in-process with a fake __main__."""

import io
import sys
import types

import pytest

from ensemble import serialize
from ensemble._engine import apply as engine_apply
from ensemble._engine import namespace as engine_ns


class CountingStream(io.StringIO):
    flushes = 0

    def flush(self):
        self.flushes += 1


@pytest.fixture
def main_ns(monkeypatch):
    module = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", module)
    for name in ("last_type", "last_value", "last_traceback"):
        monkeypatch.delattr(sys, name, raising=False)
    return module.__dict__


def run(f, *args, **kwargs):
    return engine_apply.run([memoryview(bytes(b)) for b in serialize.pack_apply(f, args, kwargs)],
                            7, "uuid-7")


def test_success_returns_ok_content_and_pickled_result(main_ns):
    content, md, buffers = run(lambda a, b: a * b, 6, 7)
    assert content == {"status": "ok"}
    assert md["status"] == "ok" and md["engine_id"] == 7
    assert serialize.unpack_result(buffers) == 42


def test_error_content_names_exception_and_engine(main_ns):
    def boom():
        raise KeyError("missing")

    content, md, buffers = run(boom)
    assert content["status"] == "error"
    assert content["ename"] == "KeyError" and content["evalue"] == "'missing'"
    assert content["engine_info"] == {"engine_id": 7, "engine_uuid": "uuid-7",
                                      "method": "apply"}
    assert buffers == [] and md["status"] == "error"
    assert content["traceback"][-1] == "KeyError: 'missing'"


def test_traceback_has_no_engine_frames(main_ns):
    content, _, _ = run(lambda: 1 / 0)
    text = "\n".join(content["traceback"])
    assert engine_apply.__file__ not in text and serialize.__file__ not in text
    assert text.startswith("Traceback")
    assert "ZeroDivisionError" in text


def test_post_mortem_state_is_set_for_debug(main_ns):
    def boom():
        local_marker = 5  # noqa: F841
        raise ValueError("x")

    run(boom)
    assert sys.last_type is ValueError
    assert isinstance(sys.last_value, ValueError)
    tb = sys.last_traceback
    while tb.tb_next:
        tb = tb.tb_next
    assert tb.tb_frame.f_locals["local_marker"] == 5
    assert sys.last_traceback.tb_frame.f_code.co_filename != engine_apply.__file__


def test_system_exit_in_user_code_becomes_error_reply(main_ns):
    content, _, _ = run(sys.exit, 3)
    assert content["ename"] == "SystemExit"


def test_pushed_names_are_visible_to_main_functions(main_ns):
    run(engine_ns._push, a=5, b=[1, 2])
    assert main_ns["a"] == 5
    code = compile("def use():\n    return a + len(b)\n", "<client>", "exec")
    client_main = {"__name__": "__main__"}
    exec(code, client_main)
    _, _, buffers = run(client_main["use"])
    assert serialize.unpack_result(buffers) == 7


def test_push_supports_dotted_targets_and_pull_expressions(main_ns):
    exec("class A: pass\na = A()", main_ns)
    run(engine_ns._push, **{"a.b": 128})
    _, _, buffers = run(engine_ns._pull, ["a.b", "a.b * 2"])
    assert serialize.unpack_result(buffers) == [128, 256]


def test_clear_removes_user_names_only(main_ns):
    main_ns.update(x=1, __name__="__main__")
    run(engine_ns.clear)
    assert "x" not in main_ns and main_ns["__name__"] == "__main__"


def test_streams_are_flushed_after_each_call(main_ns, monkeypatch):
    out, err = CountingStream(), CountingStream()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    run(print, "hello")
    assert out.getvalue() == "hello\n"
    assert out.flushes >= 1 and err.flushes >= 1
    run(lambda: 1 / 0)
    assert out.flushes >= 2


def test_unpicklable_result_becomes_error_reply(main_ns):
    import threading

    content, _, _ = run(threading.Lock)
    assert content["status"] == "error"
    assert "pickle" in content["evalue"]

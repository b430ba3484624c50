"""input() and getpass() through the stdin channel."""

import pytest


def answer_input(kernel, msg_id, answers, timeout=15):
    """Answer each input_request of ``msg_id`` in turn; return the requests seen."""
    requests = []
    for answer in answers:
        req = kernel.next_stdin(timeout)
        assert req["header"]["msg_type"] == "input_request"
        assert req["parent_header"]["msg_id"] == msg_id
        requests.append(req["content"])
        kernel.kc.input(answer)
    return requests


def test_input_round_trip_with_prompt(kernel):
    msg_id = kernel.kc.execute(
        "name = input('Your name? ')\nprint('hello ' + name)\nlen(name)", allow_stdin=True
    )
    [req] = answer_input(kernel, msg_id, ["Ada Lovelace"])
    assert req["prompt"] == "Your name? "
    assert req["password"] is False
    res = kernel.collect(msg_id)
    assert res.status == "ok", res.content
    assert "hello Ada Lovelace\n" in res.stdout
    assert [r["data"]["text/plain"] for r in res.results] == ["12"]


def test_several_inputs_in_one_cell(kernel):
    msg_id = kernel.kc.execute(
        "a = input('a: ')\nb = input('b: ')\nprint(repr(a + '|' + b))", allow_stdin=True
    )
    reqs = answer_input(kernel, msg_id, ["first", "second \u00e9"])
    assert [r["prompt"] for r in reqs] == ["a: ", "b: "]
    res = kernel.collect(msg_id)
    assert res.status == "ok", res.content
    assert "'first|second \u00e9'" in res.stdout


def test_empty_input_returns_empty_string(kernel):
    msg_id = kernel.kc.execute("empty = input()\nrepr(empty)", allow_stdin=True)
    [req] = answer_input(kernel, msg_id, [""])
    assert req["prompt"] == ""
    res = kernel.collect(msg_id)
    assert [r["data"]["text/plain"] for r in res.results] == ['"\'\'"']


def test_getpass_round_trip_marks_password(kernel):
    msg_id = kernel.kc.execute(
        "import getpass\nsecret = getpass.getpass('Password: ')\nprint('length', len(secret))",
        allow_stdin=True,
    )
    [req] = answer_input(kernel, msg_id, ["s3cr3t!"])
    assert req["prompt"] == "Password: "
    assert req["password"] is True
    res = kernel.collect(msg_id)
    assert res.status == "ok", res.content
    assert "length 7" in res.stdout
    # the password itself is never echoed to the output
    assert "s3cr3t!" not in "".join(str(m["content"]) for m in res.msgs)


def test_input_without_allow_stdin_fails_clearly(kernel):
    res = kernel.execute("input('never answered: ')", allow_stdin=False, stop_on_error=False, timeout=15)
    assert res.status == "error"
    ename, evalue = res.content["ename"], res.content["evalue"]
    assert "Stdin" in ename or "stdin" in evalue.lower(), (ename, evalue)
    assert [e["ename"] for e in res.errors] == [ename]
    # the kernel is not stuck waiting for an answer
    kernel.assert_healthy()


def test_getpass_without_allow_stdin_fails_clearly(kernel):
    res = kernel.execute(
        "import getpass\ngetpass.getpass()", allow_stdin=False, stop_on_error=False, timeout=15
    )
    assert res.status == "error"
    ename, evalue = res.content["ename"], res.content["evalue"]
    assert "Stdin" in ename or "stdin" in evalue.lower(), (ename, evalue)


def test_input_exception_can_be_caught_by_user_code(kernel):
    res = kernel.execute(
        "try:\n    input()\nexcept Exception as e:\n    caught = type(e).__name__ + ': ' + str(e)\ncaught",
        allow_stdin=False,
    )
    assert res.status == "ok", res.content
    [result] = res.results
    assert "stdin" in result["data"]["text/plain"].lower()


@pytest.mark.deadline(30)
def test_interrupt_while_waiting_for_input(kernel):
    """An interrupt ends a pending input() with KeyboardInterrupt."""
    msg_id = kernel.kc.execute("input('waiting: ')", allow_stdin=True, stop_on_error=False)
    req = kernel.next_stdin(15)
    assert req["content"]["prompt"] == "waiting: "
    kernel.km.interrupt_kernel()
    res = kernel.collect(msg_id, timeout=10)
    assert res.status == "error"
    assert res.content["ename"] == "KeyboardInterrupt"
    kernel.assert_healthy()


def test_pdb_on_shows_the_traceback_then_debugs_where_the_error_was(kernel):
    kernel.execute("%pdb on")
    try:
        msg_id = kernel.kc.execute("def pdb_on_fails(q):\n    return q / 0\npdb_on_fails(7)",
                                   allow_stdin=True, stop_on_error=False)
        [first, _] = answer_input(kernel, msg_id, ["p q", "q"])
        assert first["prompt"] == "ipdb> "
        res = kernel.collect(msg_id)
        assert res.status == "error" and res.content["ename"] == "ZeroDivisionError", res.content
        assert len(res.errors) == 1  # once, and before the debugger's own output
        types = [m["header"]["msg_type"] for m in res.msgs if m["header"]["msg_type"] in ("error", "stream")]
        assert types[0] == "error", types
        assert "7" in res.stdout  # the debugger's answer to "p q"
    finally:
        kernel.execute("%pdb off")


def test_debug_magic_debugs_the_last_error(kernel):
    kernel.execute("def debug_me(r):\n    return r[5]\ndebug_me('abc')", stop_on_error=False)
    msg_id = kernel.kc.execute("%debug", allow_stdin=True)
    [prompt] = answer_input(kernel, msg_id, ["p r", "q"])[:1]
    assert prompt["prompt"] == "ipdb> "
    res = kernel.collect(msg_id)
    assert res.status == "ok", res.content
    assert "'abc'" in res.stdout

"""execute_request behaviour: options, outputs, errors, streams, magics."""

import base64
import time

import pytest

# One kernel serves the whole module (fixture ``kernel`` in conftest.py); each
# test uses its own variable names so tests don't see each other's state.


def plain(result_content):
    return result_content["data"]["text/plain"]


def current_count(kernel):
    """Execution count of a fresh, history-storing execute."""
    res = kernel.execute("pass")
    assert res.status == "ok"
    return res.content["execution_count"]


# -- user_expressions, silent, store_history --------------------------------


def test_user_expressions_are_evaluated_after_the_code(kernel):
    res = kernel.execute(
        "ue_base = 10",
        user_expressions={
            "double": "ue_base * 2",
            "text": "'ab' * 2",
            "zero_div": "1 / 0",
            "unknown": "ue_no_such_name",
        },
    )
    assert res.status == "ok", res.content
    ue = res.content["user_expressions"]
    assert set(ue) == {"double", "text", "zero_div", "unknown"}
    assert ue["double"]["status"] == "ok"
    assert ue["double"]["data"]["text/plain"] == "20"
    assert ue["text"]["data"]["text/plain"] == "'abab'"
    assert ue["zero_div"]["status"] == "error"
    assert ue["zero_div"]["ename"] == "ZeroDivisionError"
    assert isinstance(ue["zero_div"]["traceback"], list)
    assert ue["unknown"]["status"] == "error"
    assert ue["unknown"]["ename"] == "NameError"


def test_user_expression_error_does_not_fail_the_request(kernel):
    res = kernel.execute("ue_ok = 1", user_expressions={"bad": "raise_me("})
    assert res.status == "ok"
    assert res.content["user_expressions"]["bad"]["status"] == "error"
    assert res.content["user_expressions"]["bad"]["ename"] == "SyntaxError"


def test_silent_execution_publishes_no_input_or_result_and_keeps_count(kernel):
    before = current_count(kernel)
    res = kernel.execute("silent_value = 5\nsilent_value * 3", silent=True)
    assert res.status == "ok"
    types = [m["header"]["msg_type"] for m in res.msgs]
    assert "execute_input" not in types
    assert "execute_result" not in types
    assert res.content["execution_count"] == before
    # the code did run
    assert kernel.eval_plain("silent_value") == "5"
    assert current_count(kernel) == before + 1


def test_store_history_false_does_not_advance_execution_count(kernel):
    before = current_count(kernel)
    res = kernel.execute("nohist_value = 7\nnohist_value", store_history=False)
    assert res.status == "ok"
    assert [plain(r) for r in res.results] == ["7"]
    assert current_count(kernel) == before + 1


def test_execution_count_increments_and_matches_execute_input(kernel):
    first = kernel.execute("1")
    second = kernel.execute("2")
    assert second.content["execution_count"] == first.content["execution_count"] + 1
    inputs = second.of_type("execute_input")
    assert len(inputs) == 1
    assert inputs[0]["content"]["code"] == "2"
    assert inputs[0]["content"]["execution_count"] == second.content["execution_count"]
    assert second.results[0]["execution_count"] == second.content["execution_count"]


# -- stop_on_error ----------------------------------------------------------


def test_queued_requests_are_aborted_after_error(kernel, uniq):
    marker = uniq("aborted")
    kc = kernel.kc
    failing = kc.execute("import time\ntime.sleep(0.5)\nraise RuntimeError('stop here')")
    queued = [kc.execute("%s = %d" % (marker, i)) for i in range(2)]
    first = kernel.collect(failing)
    assert first.status == "error"
    assert first.content["ename"] == "RuntimeError"
    for msg_id in queued:
        reply = kernel.shell_reply(msg_id)
        assert reply["header"]["msg_type"] == "execute_reply"
        assert reply["content"]["status"] == "aborted", reply["content"]
    # ipykernel keeps aborting for a moment after its error reply (a race in
    # ipykernel); give it that moment so the checks below are not aborted too.
    time.sleep(0.5)
    # none of the queued cells ran, and the kernel accepts new work again
    assert kernel.eval_plain("%r in globals()" % marker) == "False"
    kernel.assert_healthy()


def test_queued_requests_run_when_stop_on_error_is_false(kernel, uniq):
    marker = uniq("ran")
    kc = kernel.kc
    failing = kc.execute(
        "import time\ntime.sleep(0.5)\nraise RuntimeError('keep going')", stop_on_error=False
    )
    queued = kc.execute("%s = 'yes'" % marker)
    assert kernel.collect(failing).status == "error"
    assert kernel.collect(queued).status == "ok"
    assert kernel.eval_plain(marker) == "'yes'"


@pytest.mark.ensemble_only  # ipykernel 6 races: it may abort a request sent right after the error reply
def test_request_sent_after_error_reply_is_not_aborted(kernel):
    for _ in range(5):
        assert kernel.execute("raise ValueError('x')").status == "error"
        res = kernel.execute("'still running'")
        assert res.status == "ok", res.content
    res = kernel.execute("'still running'")
    assert res.status == "ok"
    assert [plain(r) for r in res.results] == ["'still running'"]


# -- rich output ------------------------------------------------------------


def test_display_data_and_update_display_data_carry_display_id(kernel, uniq):
    did = uniq("disp")
    res = kernel.execute(
        "from IPython.display import display, update_display\n"
        "display({'text/plain': 'first version', 'text/html': '<b>first</b>'}, raw=True, display_id=%r)\n"
        "update_display({'text/plain': 'second version'}, raw=True, display_id=%r)\n" % (did, did)
    )
    assert res.status == "ok", res.content
    displays = res.of_type("display_data")
    updates = res.of_type("update_display_data")
    assert len(displays) == 1 and len(updates) == 1
    assert displays[0]["content"]["data"] == {"text/plain": "first version", "text/html": "<b>first</b>"}
    assert displays[0]["content"]["transient"] == {"display_id": did}
    assert updates[0]["content"]["data"] == {"text/plain": "second version"}
    assert updates[0]["content"]["transient"] == {"display_id": did}
    # the update comes after the display
    assert res.msgs.index(displays[0]) < res.msgs.index(updates[0])


def test_display_handle_updates_from_a_later_cell(kernel, uniq):
    name = uniq("handle")
    first = kernel.execute(
        "from IPython.display import display\n%s = display('original', display_id=True)" % name
    )
    assert first.status == "ok"
    [shown] = first.of_type("display_data")
    did = shown["content"]["transient"]["display_id"]
    assert isinstance(did, str) and did
    assert shown["content"]["data"]["text/plain"] == "'original'"
    assert not first.results  # an assignment has no execute_result

    second = kernel.execute("%s.update('replaced')" % name)
    assert second.status == "ok"
    [update] = second.of_type("update_display_data")
    assert update["content"]["transient"]["display_id"] == did
    assert update["content"]["data"]["text/plain"] == "'replaced'"
    assert update["parent_header"]["msg_id"] == second.reply["parent_header"]["msg_id"]


def test_display_of_object_with_repr_html(kernel):
    res = kernel.execute(
        "class HtmlThing:\n"
        "    def _repr_html_(self):\n"
        "        return '<em>html thing</em>'\n"
        "    def __repr__(self):\n"
        "        return 'HtmlThing()'\n"
        "display(HtmlThing())\n"
        "HtmlThing()\n"
    )
    assert res.status == "ok", res.content
    [shown] = res.of_type("display_data")
    assert shown["content"]["data"] == {"text/html": "<em>html thing</em>", "text/plain": "HtmlThing()"}
    assert [r["data"] for r in res.results] == [shown["content"]["data"]]


def test_clear_output_wait_is_sent_between_outputs(kernel):
    res = kernel.execute(
        "from IPython.display import clear_output\n"
        "print('before clear', flush=True)\n"
        "clear_output(wait=True)\n"
        "print('after clear')\n"
    )
    assert res.status == "ok"
    kinds = []
    for m in res.msgs:
        kind = m["header"]["msg_type"]
        if kind == "stream" and kinds and kinds[-1][0] == "stream":
            # text may come in several messages (a writer preempted between print's text and
            # its newline outlasts the batching delay): what counts is where the clear falls
            kinds[-1] = ("stream", kinds[-1][1] + m["content"]["text"])
        elif kind in ("stream", "clear_output"):
            kinds.append((kind, m["content"].get("text", m["content"].get("wait"))))
    assert kinds == [("stream", "before clear\n"), ("clear_output", True), ("stream", "after clear\n")]


def test_clear_output_without_wait(kernel):
    res = kernel.execute("from IPython.display import clear_output\nclear_output()")
    assert [m["content"] for m in res.of_type("clear_output")] == [{"wait": False}]


def test_last_expression_value_is_the_execute_result(kernel):
    res = kernel.execute("last_a = 20\nlast_a + 1")
    assert res.status == "ok"
    assert [plain(r) for r in res.results] == ["21"]
    assert res.results[0]["execution_count"] == res.content["execution_count"]


def test_assignment_and_trailing_semicolon_produce_no_result(kernel):
    assert kernel.execute("semi_a = 3").results == []
    assert kernel.execute("semi_a + 1;").results == []
    assert kernel.execute("None").results == []


def test_namespace_persists_between_cells(kernel):
    assert kernel.execute("persist_v = 41\ndef persist_f(x):\n    return x + 1").status == "ok"
    res = kernel.execute("persist_f(persist_v)")
    assert [plain(r) for r in res.results] == ["42"]
    res = kernel.execute("import json as persist_json\npersist_json.dumps([persist_v])")
    assert [plain(r) for r in res.results] == ["'[41]'"]


# -- errors -----------------------------------------------------------------


def test_exception_gives_error_reply_and_traceback_naming_the_line(kernel):
    code = (
        "def failing_function():\n"
        "    raise ValueError('bad value 1234')\n"
        "\n"
        "failing_function()\n"
    )
    res = kernel.execute(code, stop_on_error=False)
    assert res.status == "error"
    assert res.content["ename"] == "ValueError"
    assert res.content["evalue"] == "bad value 1234"
    assert isinstance(res.content["execution_count"], int)
    [err] = res.errors
    assert err["ename"] == "ValueError"
    assert err["evalue"] == "bad value 1234"
    assert all(isinstance(line, str) for line in err["traceback"])
    tb = res.traceback_text
    assert "raise ValueError('bad value 1234')" in tb
    assert "failing_function()" in tb
    assert "ValueError" in tb
    # no result is produced by a failing cell
    assert res.results == []


def test_a_traceback_names_each_cell_as_ipython_does(kernel):
    defined = kernel.execute("def fails_in_its_cell():\n    return 1 / 0\n")
    called = kernel.execute("x_before = 1\nfails_in_its_cell()", stop_on_error=False)
    assert called.status == "error", called.content
    tb = called.traceback_text
    # as ipykernel shows them: which In[] each frame is in, and the line in it
    assert "Cell In [%d], line 2" % called.content["execution_count"] in tb, tb
    assert "Cell In [%d], line 2, in fails_in_its_cell()" % defined.content["execution_count"] in tb, tb


def test_an_error_in_a_function_from_an_earlier_silent_cell_names_its_own_line(kernel):
    # as an engine runs them: ipyparallel's view.execute is silent by default
    defined = kernel.execute("def fails_later():\n    return 1 / 0\n", silent=True)
    assert defined.status == "ok"
    called = kernel.execute("fails_later()", silent=True, stop_on_error=False)
    assert called.status == "error"
    assert called.content["ename"] == "ZeroDivisionError", called.content
    assert "return 1 / 0" in called.traceback_text


@pytest.mark.ensemble_only
def test_an_error_ipythons_formatter_cannot_format_is_still_reported_in_plain_form(kernel):
    kernel.execute("ip = get_ipython()\n"
                   "ip.InteractiveTB.structured_traceback = lambda *a, **k: 1 / 0\n")
    try:
        res = kernel.execute("raise KeyError('the real error')", stop_on_error=False)
        assert res.status == "error" and res.content["ename"] == "KeyError", res.content
        assert "the real error" in res.traceback_text
    finally:
        kernel.execute("del ip.InteractiveTB.structured_traceback")


def test_syntax_error_is_reported(kernel):
    res = kernel.execute("def broken(:\n    pass\n", stop_on_error=False)
    assert res.status == "error"
    assert res.content["ename"] == "SyntaxError"
    assert len(res.errors) == 1


def test_output_before_an_exception_is_kept(kernel):
    res = kernel.execute("print('partial output')\n1/0", stop_on_error=False)
    assert res.status == "error"
    assert res.content["ename"] == "ZeroDivisionError"
    assert res.stdout == "partial output\n"
    # stdout arrives before the error
    types = [m["header"]["msg_type"] for m in res.msgs if m["header"]["msg_type"] in ("stream", "error")]
    assert types == ["stream", "error"]


# -- streams ----------------------------------------------------------------


def test_stdout_and_stderr_go_to_separate_streams(kernel):
    res = kernel.execute(
        "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"
        "sys.stderr.write('raw stderr\\n')\n"
    )
    assert res.status == "ok"
    assert res.stdout == "to stdout\n"
    assert res.stderr == "to stderr\nraw stderr\n"


def test_output_of_thread_joined_in_cell_is_published(kernel):
    res = kernel.execute(
        "import threading\n"
        "def _worker():\n"
        "    for i in range(3):\n"
        "        print('from thread', i)\n"
        "t = threading.Thread(target=_worker)\n"
        "t.start(); t.join()\n"
        "print('main done')\n"
    )
    assert res.status == "ok"
    assert res.stdout == "from thread 0\nfrom thread 1\nfrom thread 2\nmain done\n"


def test_output_of_thread_after_cell_finished_reaches_iopub(kernel, uniq, tmp_path):
    token = uniq("late")
    go = tmp_path / "go"  # the thread prints only once this file exists
    res = kernel.execute(
        "import os, threading, time\n"
        "def _late():\n"
        "    deadline = time.time() + 30\n"
        "    while not os.path.exists(%r) and time.time() < deadline:\n"
        "        time.sleep(0.02)\n"
        "    print(%r, flush=True)\n"
        "threading.Thread(target=_late, daemon=True).start()\n" % (str(go), token)
    )
    assert res.status == "ok"
    assert token not in res.stdout
    start = len(kernel.iopub_log)
    go.touch()  # the cell is finished (reply and idle received): now let the thread print
    msg = kernel.wait_iopub(
        lambda m: m["header"]["msg_type"] == "stream" and token in m["content"]["text"],
        timeout=10,
        start=start,
    )
    assert msg["content"]["name"] == "stdout"


@pytest.mark.deadline(120)
def test_hundred_thousand_lines_arrive_complete_in_order_and_batched(kernel):
    n = 100_000
    res = kernel.execute("for i in range(%d):\n    print('line %%06d' %% i)" % n, timeout=100)
    assert res.status == "ok"
    streams = res.of_type("stream")
    assert all(m["content"]["name"] == "stdout" for m in streams)
    text = res.stdout
    lines = text.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == n
    expected = ["line %06d" % i for i in range(n)]
    if lines != expected:
        bad = next(i for i, (a, b) in enumerate(zip(lines, expected)) if a != b)
        pytest.fail("line %d is %r, expected %r" % (bad, lines[bad], expected[bad]))
    assert len(streams) < 200, "%d stream messages for %d lines" % (len(streams), n)


def test_partial_line_without_newline_is_flushed_at_end_of_cell(kernel):
    res = kernel.execute("import sys\nsys.stdout.write('no newline')")
    assert res.stdout == "no newline"


def test_unicode_output_round_trips(kernel):
    res = kernel.execute("print('h\\u00e9llo \\u4e16\\u754c \\U0001F600')")
    assert res.stdout == "h\u00e9llo \u4e16\u754c \U0001F600\n"


# -- IPython features -------------------------------------------------------


def test_timeit_line_magic(kernel):
    res = kernel.execute("%timeit -n1 -r1 pass")
    assert res.status == "ok", res.content
    assert "per loop" in res.stdout


def test_time_cell_magic_runs_the_cell(kernel):
    res = kernel.execute("%%time\ntimed_value = sum(range(1000))\ntimed_value")
    assert res.status == "ok", res.content
    assert "Wall time" in res.stdout
    assert [plain(r) for r in res.results] == ["499500"]
    assert kernel.eval_plain("timed_value") == "499500"


def test_shell_escape_output_is_captured(kernel):
    res = kernel.execute("!echo hi-from-shell")
    assert res.status == "ok", res.content
    assert "hi-from-shell" in res.stdout


def test_shell_capture_assigns_output(kernel):
    res = kernel.execute("captured = !echo one; echo two\nlist(captured)")
    assert res.status == "ok", res.content
    assert [plain(r) for r in res.results] == ["['one', 'two']"]


def help_text(res):
    """Text shown by obj? — as a pager payload, or as output."""
    import re

    texts = [
        p["data"].get("text/plain", "")
        for p in res.content.get("payload", [])
        if p.get("source") == "page"
    ]
    texts += [m["content"]["data"].get("text/plain", "") for m in res.of_type("display_data")]
    texts.append(res.stdout)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", "\n".join(texts))


def test_question_mark_shows_docstring(kernel):
    res = kernel.execute("len?")
    assert res.status == "ok", res.content
    text = help_text(res)
    assert "Return the number of items in a container" in text
    assert "Signature" in text


def test_double_question_mark_shows_source(kernel):
    kernel.execute("def source_shown(a):\n    'doc of source_shown'\n    return a * 1234\n")
    res = kernel.execute("source_shown??")
    assert res.status == "ok", res.content
    assert "return a * 1234" in help_text(res)


def test_matplotlib_inline_plot_produces_png(kernel):
    probe = kernel.execute("import matplotlib", stop_on_error=False)
    if probe.status != "ok":
        pytest.skip("matplotlib not importable in the kernel: %s" % probe.content.get("evalue"))
    res = kernel.execute(
        "%matplotlib inline\n"
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([1, 3, 2])\n"
        "plt.show()\n",
        timeout=60,
    )
    assert res.status == "ok", res.content
    pngs = [m["content"]["data"]["image/png"] for m in res.of_type("display_data") if "image/png" in m["content"]["data"]]
    assert len(pngs) == 1
    assert base64.b64decode(pngs[0]).startswith(b"\x89PNG\r\n\x1a\n")


def test_multiprocessing_pool_and_subprocesses_work(kernel):
    res = kernel.execute(
        "import multiprocessing, subprocess, sys\n"
        "with multiprocessing.Pool(2) as pool:\n"
        "    print(pool.map(abs, [-1, -2, 3]))\n"
        "print(subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout)",
        timeout=60,
    )
    assert res.status == "ok", res.content
    assert "[1, 2, 3]" in res.stdout
    assert "42" in res.stdout


def test_is_complete_ends_a_block_at_a_blank_line_as_ipython_does(kernel):
    def status(code):
        return kernel.shell_request("is_complete_request", {"code": code})["content"]

    assert status("def f(x):\n    return x") == {"status": "incomplete", "indent": "    "}
    # A console auto-indents the next line: an indent-only last line ends the block.
    assert status("def f(x):\n    return x\n    ")["status"] == "complete"
    assert status("def f(x):\n    return x\n")["status"] == "complete"
    assert status("x = [1,\n")["status"] == "incomplete"
    assert status("%%time\nx = 1\n")["status"] == "incomplete"
    assert status("%%time\nx = 1\n\n")["status"] == "complete"


def test_a_figure_shows_without_asking_for_inline_figures(start_kernel):
    kernel = start_kernel()  # a fresh kernel: nothing has chosen a backend yet
    res = kernel.execute("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]);", timeout=60)
    assert res.status == "ok", res.content
    shown = [m["content"]["data"] for m in res.of_type("display_data")]
    assert len(shown) == 1 and "image/png" in shown[0], shown


@pytest.mark.parametrize("code, status", [
    ("x = (1,\n 2)", "complete"),            # a bracket's continuation is not a block
    ("x = !ls", "complete"),                 # a shell escape assigned
    ("await asyncio.sleep(0)", "complete"),  # top-level await runs in a cell
    ("  x = 1", "complete"),                 # an indented cell runs, its indent taken off
    ("for i in range(3):\n    %time f(i)", "incomplete"),
    ("x = [1,\n  2,", "incomplete"),
])
def test_is_complete_judges_cells_as_ipython_does(kernel, code, status):
    assert kernel.shell_request("is_complete_request", {"code": code})["content"]["status"] == status


def test_a_result_whose_repr_raises_is_an_error_output_of_a_cell_that_succeeds(kernel):
    res = kernel.execute("class ReprFails:\n    def __repr__(self):\n        raise ValueError('repr broke')\nReprFails()")
    assert res.status == "ok", res.content
    assert [e["evalue"] for e in res.errors] == ["repr broke"] and res.results == []


def test_a_failing_html_repr_leaves_the_plain_text_result(kernel):
    res = kernel.execute("class HtmlFails:\n    def _repr_html_(self):\n        raise ValueError('html broke')\n"
                         "    def __repr__(self):\n        return 'plain still here'\nHtmlFails()")
    assert res.status == "ok", res.content
    assert [e["evalue"] for e in res.errors] == ["html broke"]
    assert [r["data"] for r in res.results] == [{"text/plain": "plain still here"}]


def test_quit_with_keep_kernel_asks_the_frontend_to_leave_it_running(kernel):
    kernel.execute("get_ipython()")  # with IPython up, whose own exit takes no keep_kernel
    res = kernel.execute("quit(keep_kernel=True)")
    assert res.status == "ok", res.content
    assert [(p["source"], p["keepkernel"]) for p in res.content["payload"]] == [("ask_exit", True)]

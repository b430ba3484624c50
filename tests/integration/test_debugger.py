"""Jupyter's debugger protocol (debug_request/debug_reply on control, debug_event on
iopub), as JupyterLab's debugger drives it, through jupyter_client. Tests not marked
ensemble_only pass against ipykernel too (ENSEMBLE_TEST_KERNEL=python3)."""

import itertools
import os

import pytest
from conftest import strip_ansi


CELL = "def f(a, b):\n    c = a + b\n    return c\n\nprint(f(2, 3))\n"
_seq = itertools.count(1)


def debug(kernel, command, arguments=None, timeout=30):
    """A DAP request through debug_request; the reply's content (a DAP response)."""
    reply = kernel.control_request("debug_request", {"type": "request", "seq": next(_seq), "command": command,
                                                     "arguments": arguments or {}}, timeout)
    assert reply["header"]["msg_type"] == "debug_reply"
    return reply["content"]


def start_debugging(kernel):
    assert debug(kernel, "initialize", {"clientID": "test", "clientName": "test", "adapterID": "",
                                        "pathFormat": "path", "linesStartAt1": True, "columnsStartAt1": True,
                                        "supportsVariableType": True, "supportsVariablePaging": True,
                                        "locale": "en"})["success"]
    assert debug(kernel, "attach")["success"]


def set_breakpoint(kernel, code, line):
    source = debug(kernel, "dumpCell", {"code": code})["body"]["sourcePath"]
    reply = debug(kernel, "setBreakpoints", {"breakpoints": [{"line": line}], "source": {"path": source},
                                             "sourceModified": False})
    assert reply["success"] and reply["body"]["breakpoints"][0]["verified"], reply
    assert debug(kernel, "configurationDone")["success"]
    return source


def wait_stopped(kernel, timeout=30):
    start = len(kernel.iopub_log)
    event = kernel.wait_iopub(lambda m: m["header"]["msg_type"] == "debug_event"
                              and m["content"].get("event") == "stopped", timeout, start=start)
    return event["content"]["body"]


@pytest.fixture
def debugged(fresh_kernel):
    start_debugging(fresh_kernel)
    yield fresh_kernel
    debug(fresh_kernel, "disconnect", {"restart": False, "terminateDebuggee": True})


@pytest.mark.ensemble_only  # ipykernel 6.17 leaves "debugger" out of its kernel_info
def test_kernel_info_says_the_kernel_can_be_debugged(kernel):
    assert kernel.shell_request("kernel_info_request", {})["content"]["debugger"] is True


def test_debug_info_names_cell_files_by_murmur2_of_their_code(debugged):
    from ipykernel.compiler import murmur2_x86  # an implementation not ours

    info = debug(debugged, "debugInfo")["body"]
    assert info["isStarted"] is True and info["hashMethod"] == "Murmur2"
    for code in ["", "x", "ab", "abc", "abcd", "é€𝄞 = 1", CELL, "y = 2\n" * 500]:
        path = debug(debugged, "dumpCell", {"code": code})["body"]["sourcePath"]
        assert path == "%s%d%s" % (info["tmpFilePrefix"], murmur2_x86(code, info["hashSeed"]),
                                   info["tmpFileSuffix"])
        with open(path, encoding="utf-8") as f:
            assert f.read() == code
        assert debug(debugged, "source", {"source": {"path": path}})["body"]["content"] == code


def test_a_breakpoint_in_a_cell_stops_it_and_shows_its_frames_and_locals(debugged):
    source = set_breakpoint(debugged, CELL, 2)
    assert debug(debugged, "debugInfo")["body"]["breakpoints"] == [{"source": source,
                                                                      "breakpoints": [{"line": 2}]}]
    msg_id = debugged.kc.execute(CELL)
    stopped = wait_stopped(debugged)
    assert stopped["reason"] == "breakpoint"
    assert stopped["threadId"] in debug(debugged, "debugInfo")["body"]["stoppedThreads"]
    frames = debug(debugged, "stackTrace", {"threadId": stopped["threadId"]})["body"]["stackFrames"]
    # the cell's frames only: none of the kernel's own below them
    assert [(frame["name"], frame["line"], frame["source"]["path"]) for frame in frames] == [
        ("f", 2, source), ("<module>", 5, source)]
    scopes = debug(debugged, "scopes", {"frameId": frames[0]["id"]})["body"]["scopes"]
    local_scope = next(scope for scope in scopes if scope["name"] == "Locals")
    variables = debug(debugged, "variables", {"variablesReference": local_scope["variablesReference"]})
    assert [(v["name"], v["value"]) for v in variables["body"]["variables"]] == [("a", "2"), ("b", "3")]
    rich = debug(debugged, "richInspectVariables", {"variableName": "b", "frameId": frames[0]["id"]})
    assert rich["success"] and rich["body"]["data"] == {"text/plain": "3"}
    assert debug(debugged, "continue", {"threadId": stopped["threadId"]})["success"]
    result = debugged.collect(msg_id)
    assert result.status == "ok" and result.stdout == "5\n"


def test_stepping_goes_line_by_line_through_the_cell(debugged):
    code = "x = 1\ny = x + 1\nz = y * 10\n"
    set_breakpoint(debugged, code, 1)
    msg_id = debugged.kc.execute(code)
    thread = wait_stopped(debugged)["threadId"]
    lines = []
    for _ in range(2):
        assert debug(debugged, "next", {"threadId": thread})["success"]
        assert wait_stopped(debugged)["reason"] == "step"
        lines.append(debug(debugged, "stackTrace", {"threadId": thread})["body"]["stackFrames"][0]["line"])
    assert lines == [2, 3]
    frame = debug(debugged, "stackTrace", {"threadId": thread})["body"]["stackFrames"][0]["id"]
    evaluated = debug(debugged, "evaluate", {"expression": "y * 100", "frameId": frame, "context": "repl"})
    assert evaluated["body"]["result"] == "200"
    debug(debugged, "continue", {"threadId": thread})
    assert debugged.collect(msg_id).status == "ok"
    assert debugged.eval_plain("z") == "20"


def test_a_breakpoint_stops_a_function_defined_before_the_debugger_started(fresh_kernel):
    definition = "def g(n):\n    m = n * 2\n    return m\n"
    assert fresh_kernel.execute(definition).status == "ok"
    start_debugging(fresh_kernel)
    set_breakpoint(fresh_kernel, definition, 2)
    msg_id = fresh_kernel.kc.execute("g(21)")
    stopped = wait_stopped(fresh_kernel)
    frames = debug(fresh_kernel, "stackTrace", {"threadId": stopped["threadId"]})["body"]["stackFrames"]
    assert (frames[0]["name"], frames[0]["line"]) == ("g", 2)
    debug(fresh_kernel, "continue", {"threadId": stopped["threadId"]})
    assert [r["data"]["text/plain"] for r in fresh_kernel.collect(msg_id).results] == ["42"]


def test_the_variables_panel_shows_the_namespace_while_no_cell_is_stopped(debugged):
    assert debugged.execute("text = 'Hello the world'\nbox = {'k': [1, 2]}").status == "ok"
    variables = debug(debugged, "inspectVariables")["body"]["variables"]
    names = {v["name"]: v for v in variables}
    assert names["text"]["value"] == "'Hello the world'"
    assert not {"In", "Out", "_i1", "__builtins__"} & set(names)
    inside = debug(debugged, "variables", {"variablesReference": names["box"]["variablesReference"]})
    assert "[1, 2]" in [v["value"] for v in inside["body"]["variables"]]
    rich = debug(debugged, "richInspectVariables", {"variableName": "text"})
    assert rich["body"]["data"] == {"text/plain": "'Hello the world'"}


@pytest.mark.ensemble_only  # copyToGlobals came after ipykernel 6.17
def test_copy_to_globals_keeps_a_local_of_a_stopped_frame(debugged):
    set_breakpoint(debugged, CELL, 3)
    msg_id = debugged.kc.execute(CELL)
    thread = wait_stopped(debugged)["threadId"]
    frame = debug(debugged, "stackTrace", {"threadId": thread})["body"]["stackFrames"][0]["id"]
    assert debug(debugged, "copyToGlobals", {"srcVariableName": "c", "dstVariableName": "kept_c",
                                             "srcFrameId": frame})["success"]
    debug(debugged, "continue", {"threadId": thread})
    debugged.collect(msg_id)
    assert debugged.eval_plain("kept_c") == "5"


@pytest.mark.ensemble_only  # ipykernel 6.17 stops serving after a disconnect that says terminateDebuggee
def test_ending_a_debugging_session_leaves_the_kernel_serving_and_debuggable_again(fresh_kernel):
    for _ in range(2):
        start_debugging(fresh_kernel)
        set_breakpoint(fresh_kernel, CELL, 2)
        msg_id = fresh_kernel.kc.execute(CELL)
        thread = wait_stopped(fresh_kernel)["threadId"]
        debug(fresh_kernel, "continue", {"threadId": thread})
        assert fresh_kernel.collect(msg_id).status == "ok"
        assert debug(fresh_kernel, "disconnect", {"restart": False, "terminateDebuggee": True})["success"]
    fresh_kernel.assert_healthy()


def test_modules_lists_the_loaded_python_modules(debugged):
    body = debug(debugged, "modules", {"startModule": 0, "moduleCount": 0})["body"]
    assert body["totalModules"] > 0
    paths = {module["name"]: module["path"] for module in body["modules"]}
    assert paths["json"].endswith(os.path.join("json", "__init__.py"))


@pytest.mark.ensemble_only  # ipykernel 6.17 leaves them out
def test_modules_lists_the_standard_modules_python_freezes_with_their_files(debugged):
    body = debug(debugged, "modules", {"startModule": 0, "moduleCount": 0})["body"]
    paths = {module["name"]: module["path"] for module in body["modules"]}
    assert paths["os"].endswith("os.py")


@pytest.mark.ensemble_only  # the replies' wording is ours
def test_bad_debug_requests_fail_alone_and_the_kernel_keeps_serving(fresh_kernel):
    before = debug(fresh_kernel, "stackTrace", {"threadId": 1})
    assert before["success"] is False and "initialize" in before["message"]
    reply = fresh_kernel.control_request("debug_request", {"no": "command"})
    assert reply["content"]["success"] is False
    reply = fresh_kernel.control_request("debug_request", {"type": "request", "seq": 5, "command": "dumpCell",
                                                           "arguments": {"code": 7}})
    assert reply["content"] == {"type": "response", "seq": 5, "request_seq": 5, "command": "dumpCell",
                                "success": False, "body": {}, "message": "dumpCell needs the cell's code"}
    start_debugging(fresh_kernel)
    unknown = debug(fresh_kernel, "noSuchCommand")
    assert unknown["success"] is False
    fresh_kernel.assert_healthy()
    assert debug(fresh_kernel, "debugInfo")["body"]["isStarted"] is True


@pytest.mark.ensemble_only
def test_control_answers_the_debugger_while_a_cell_is_busy(fresh_kernel):
    start_debugging(fresh_kernel)
    msg_id = fresh_kernel.kc.execute("import time\nfor _ in range(40):\n    time.sleep(0.05)\n")
    assert debug(fresh_kernel, "debugInfo", timeout=1.5)["success"]
    assert debug(fresh_kernel, "inspectVariables", timeout=1.5)["success"]
    assert fresh_kernel.collect(msg_id).status == "ok"


@pytest.mark.ensemble_only  # ipykernel names cells by number too, but in other words
def test_tracebacks_still_name_cells_by_their_number(kernel):
    result = kernel.execute("def h():\n    raise ValueError('x')\nh()")
    assert result.status == "error"
    text = strip_ansi("\n".join(result.content["traceback"]))
    assert "Cell In [" in text and os.sep + "ensemble_" not in text


@pytest.mark.ensemble_only
def test_the_cell_files_go_when_the_kernel_ends(start_kernel):
    kernel = start_kernel()
    start_debugging(kernel)
    path = debug(kernel, "dumpCell", {"code": "1"})["body"]["sourcePath"]
    assert os.path.exists(path)
    kernel.close()
    assert not os.path.exists(os.path.dirname(path))


@pytest.mark.ensemble_only  # ipykernel 6.17 stops serving after the disconnect of start_debugging's peers
@pytest.mark.deadline(90)
def test_a_kernel_being_debugged_while_threads_print_shuts_down_cleanly(start_kernel):
    # the debugger's thread and a thread printing in a loop both outlive the kernel's C++
    # side by a moment: the kernel still exits at once, and with status 0
    from test_lifecycle import wait_until_dead

    for _ in range(3):
        kernel = start_kernel()
        start_debugging(kernel)
        assert kernel.execute("import itertools, threading\n"
                              "def spam():\n    for i in itertools.count():\n        print(i)\n"
                              "threading.Thread(target=spam, daemon=True).start()").status == "ok"
        kernel.control_reply(kernel.kc.shutdown(), timeout=10)
        assert wait_until_dead(kernel)
        assert kernel.km.provisioner.process.returncode == 0


def test_breakpoint_stops_in_the_frontends_debugger_while_a_session_is_on(debugged):
    code = "x = 5\nbreakpoint()\ny = x + 1\n"
    msg_id = debugged.kc.execute(code)
    stopped = wait_stopped(debugged)
    frames = debug(debugged, "stackTrace", {"threadId": stopped["threadId"]})["body"]["stackFrames"]
    assert frames[0]["name"] == "<module>" and frames[0]["line"] in (2, 3)
    debug(debugged, "continue", {"threadId": stopped["threadId"]})
    assert debugged.collect(msg_id).status == "ok"
    assert debugged.eval_plain("y") == "6"


@pytest.mark.ensemble_only  # ipykernel 6.17 leaves breakpoint() to debugpy, which ignores it with no session
def test_breakpoint_opens_pdb_again_once_the_session_is_over(fresh_kernel):
    from test_stdin import answer_input

    start_debugging(fresh_kernel)
    assert debug(fresh_kernel, "disconnect", {"restart": False, "terminateDebuggee": False})["success"]
    msg_id = fresh_kernel.kc.execute("q = 41\nbreakpoint()\nq += 1\n", allow_stdin=True)
    [first] = answer_input(fresh_kernel, msg_id, ["c"])
    assert first["prompt"] == "(Pdb) "
    assert fresh_kernel.collect(msg_id).status == "ok"
    assert fresh_kernel.eval_plain("q") == "42"


@pytest.mark.ensemble_only  # under ipykernel 6.17 the main thread stays traced, and cells slow
def test_cells_run_untraced_again_once_the_debugging_session_is_over(fresh_kernel):
    tracer = "import sys\nsys.gettrace() is not None"
    assert fresh_kernel.execute(tracer).results[0]["data"]["text/plain"] == "False"
    start_debugging(fresh_kernel)
    assert fresh_kernel.execute(tracer).results[0]["data"]["text/plain"] == "True"
    assert debug(fresh_kernel, "disconnect", {"restart": False, "terminateDebuggee": False})["success"]
    assert fresh_kernel.execute(tracer).results[0]["data"]["text/plain"] == "False"
    start_debugging(fresh_kernel)
    assert fresh_kernel.execute(tracer).results[0]["data"]["text/plain"] == "True"


@pytest.mark.parametrize("first_line", ["first = 1", "%time first = 1"], ids=["python", "ipython"])
def test_a_breakpoint_holds_in_a_cell_that_starts_with_empty_lines(debugged, first_line):
    code = "\n\n%s\nsecond = 2\nthird = 3\n" % first_line
    set_breakpoint(debugged, code, 4)
    msg_id = debugged.kc.execute(code)
    stopped = wait_stopped(debugged)
    frames = debug(debugged, "stackTrace", {"threadId": stopped["threadId"]})["body"]["stackFrames"]
    assert frames[0]["line"] == 4
    debug(debugged, "continue", {"threadId": stopped["threadId"]})
    assert debugged.collect(msg_id).status == "ok"


@pytest.mark.ensemble_only  # ipykernel 6.17 stops serving after start_debugging's disconnect
def test_a_cell_magic_after_empty_lines_works_again_once_the_session_is_over(fresh_kernel):
    cell = "\n\n%%capture captured\nprint('hidden')\n"
    start_debugging(fresh_kernel)
    assert fresh_kernel.execute("%time ready = 1").status == "ok"  # IPython's shell, during the session
    assert debug(fresh_kernel, "disconnect", {"restart": False, "terminateDebuggee": False})["success"]
    result = fresh_kernel.execute(cell)
    assert result.status == "ok" and "hidden" not in result.stdout
    assert fresh_kernel.eval_plain("captured.stdout") == "'hidden\\n'"


@pytest.mark.ensemble_only  # IPython drops the empty lines first, and counts without them
def test_a_traceback_counts_a_cells_lines_from_its_first_even_if_empty(kernel):
    result = kernel.execute("\n\nvalue = 1\nraise ValueError(value)\n")
    assert result.status == "error"
    assert "line 4" in strip_ansi("\n".join(result.content["traceback"]))

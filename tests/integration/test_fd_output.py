"""Output written below sys.stdout: by C code, child processes, os.write and the
original sys.__stderr__. It reaches the frontend as stream output, as under ipykernel 6;
here it also comes before the cell's reply (ipykernel's may come after its idle status,
so these tests are Ensemble's alone)."""

import pytest

pytestmark = pytest.mark.ensemble_only


def stdout_of(kernel, code):
    res = kernel.execute(code)
    assert res.status == "ok", res.content
    return res.stdout


def test_a_child_processes_output_reaches_the_frontend(kernel):
    assert "from the child" in stdout_of(kernel, "import subprocess; subprocess.run(['echo', 'from the child'])")


def test_output_of_c_code_reaches_the_frontend(kernel):
    assert "from libc" in stdout_of(kernel, "import ctypes; ctypes.CDLL(None).puts(b'from libc')")


def test_writes_to_the_descriptors_reach_the_frontend_before_the_reply(kernel):
    res = kernel.execute("import os; os.write(1, b'to fd one\\n'); os.write(2, b'to fd two\\n'); None")
    assert "to fd one" in res.stdout and "to fd two" in res.stderr, (res.stdout, res.stderr)


def test_writes_to_the_original_stderr_reach_the_frontend(kernel):
    res = kernel.execute("import sys; print('to the original stderr', file=sys.__stderr__)")
    assert "to the original stderr" in res.stderr


def test_bytes_that_are_not_utf8_arrive_as_replacement_characters(kernel):
    assert stdout_of(kernel, "import os; os.write(1, b'\\xff\\xfeok\\n'); None") == "\ufffd\ufffdok\n"


def test_a_character_split_across_two_writes_arrives_whole(kernel):
    assert stdout_of(kernel, "import os; os.write(1, b'caf\\xc3'); os.write(1, b'\\xa9\\n'); None") == "caf\u00e9\n"


def test_the_kernels_own_log_stays_out_of_the_output(kernel):
    start = len(kernel.iopub_log)
    kernel.shell_request("no_such_request", {})  # the kernel logs a warning about it
    res = kernel.execute("1 + 1")
    assert res.stderr == "" and res.stdout == "", (res.stdout, res.stderr)
    kernel.drain_iopub()
    streams = [m for m in kernel.iopub_log[start:] if m["header"]["msg_type"] == "stream"]
    assert streams == [], streams

"""`ensemble console` as a person uses it, in tmux, against our kernel and ipykernel."""

import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import ENSEMBLE_BIN
from tmux_driver import kill_processes_mentioning, pids_mentioning, start_in_tmux

pytestmark = pytest.mark.ensemble_only  # the console under test is Ensemble's own

KERNELS = ["ensemble", "python3"]


@pytest.fixture
def console_env(kernel_target, tmp_path):
    runtime = tmp_path / ("runtime-" + uuid.uuid4().hex)
    env = kernel_target.kernel_env(tmp_path / "state", JUPYTER_RUNTIME_DIR=str(runtime))
    env["ENSEMBLE_CONSOLE_HISTORY"] = str(tmp_path / "console_history")
    yield env
    kill_processes_mentioning(str(runtime))


class Console:
    def __init__(self, env, *args):
        history = env["ENSEMBLE_CONSOLE_HISTORY"]
        command = "%s console --history-file %s %s" % (ENSEMBLE_BIN, history, " ".join(args))
        self.runtime = env["JUPYTER_RUNTIME_DIR"]
        self.tmux = start_in_tmux(command, env)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.tmux.run("kill-server", check=False)

    def kernel_pids(self):
        # The kernel's command line names its connection file in the runtime
        # directory (tmux's names only the directory).
        return pids_mentioning(os.path.join(self.runtime, "kernel-"))


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kernel", KERNELS)
def test_expression_shows_out_prompt_and_exit_shuts_the_kernel_down(console_env, kernel):
    with Console(console_env, "--kernel", kernel) as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.type_line("1+1")
        c.tmux.wait_for("Out[1]: 2")
        c.tmux.type_line("exit")
        assert wait_until(lambda: not c.tmux.alive(), 20), c.tmux.screen()
        assert wait_until(lambda: not c.kernel_pids(), 10), "the kernel outlived its console"


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kernel", KERNELS)
def test_tab_completes_a_prefix(console_env, kernel):
    with Console(console_env, "--kernel", kernel) as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.type_line("completion_target_value = 41")
        c.tmux.wait_for("In [2]:")
        c.tmux.keys("-l", "completion_tar")
        c.tmux.keys("Tab")
        c.tmux.wait_for("completion_target_value", timeout=10)
        c.tmux.keys("-l", " + 1")
        c.tmux.keys("Enter")
        c.tmux.wait_for("Out[2]: 42")


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kernel", KERNELS)
def test_multi_line_for_loop_runs_after_a_blank_line(console_env, kernel):
    with Console(console_env, "--kernel", kernel) as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.type_line("for i in range(3):")
        c.tmux.wait_for("...:")
        c.tmux.type_line("print('line', i * 10)")
        c.tmux.keys("Enter")
        screen = c.tmux.wait_for("line 20")
        assert "line 0" in screen and "line 10" in screen


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kernel", KERNELS)
def test_input_is_answered_at_the_console(console_env, kernel):
    with Console(console_env, "--kernel", kernel) as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.type_line("name = input('your ' + 'name? ')")
        c.tmux.wait_for("your name?")
        c.tmux.type_line("ada")
        c.tmux.wait_for("In [2]:")
        c.tmux.type_line("name.upper()")
        c.tmux.wait_for("Out[2]: 'ADA'")


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kernel", KERNELS)
def test_ctrl_c_interrupts_a_long_cell_within_two_seconds(console_env, kernel):
    with Console(console_env, "--kernel", kernel) as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.type_line("import time; time.sleep(30)")
        time.sleep(1.0)
        start = time.monotonic()
        c.tmux.keys("C-c")
        c.tmux.wait_for("In [2]:", timeout=10)
        assert time.monotonic() - start < 2.0
        assert "KeyboardInterrupt" in c.tmux.screen()


@pytest.mark.deadline(90)
def test_another_clients_execution_appears_in_the_console(console_env, tmp_path):
    from jupyter_client import BlockingKernelClient

    with Console(console_env, "--kernel", "ensemble") as c:
        c.tmux.wait_for("In [1]:")
        runtime = console_env["JUPYTER_RUNTIME_DIR"]
        files = [f for f in os.listdir(runtime) if f.startswith("kernel-") and f.endswith(".json")]
        assert len(files) == 1, files
        other = BlockingKernelClient(connection_file=os.path.join(runtime, files[0]))
        other.load_connection_file()
        other.session.username = "alice"
        other.start_channels()
        try:
            other.execute_interactive("print('hello from ' + 'alice')", timeout=20)
        finally:
            other.stop_channels()
        screen = c.tmux.wait_for("hello from alice")
        assert "[alice]" in screen
        c.tmux.type_line("2*3")  # the prompt still works afterwards
        c.tmux.wait_for("Out[2]: 6")


@pytest.mark.deadline(90)
def test_a_killed_kernel_is_reported(console_env):
    with Console(console_env, "--kernel", "ensemble") as c:
        c.tmux.wait_for("In [1]:")
        pids = c.kernel_pids()
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        c.tmux.wait_for("The kernel died", timeout=15)
        c.tmux.wait_for("Restart it?")
        c.tmux.type_line("y")
        c.tmux.wait_for("Kernel restarted", timeout=30)
        c.tmux.type_line("40+2")
        c.tmux.wait_for("Out[1]: 42")


@pytest.mark.deadline(120)
def test_history_survives_a_restart_of_the_console(console_env):
    with Console(console_env, "--kernel", "ensemble") as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.type_line("remembered_value = 'from the first console'")
        c.tmux.wait_for("In [2]:")
        c.tmux.type_line("exit")
        assert wait_until(lambda: not c.tmux.alive(), 20)
    with Console(console_env, "--kernel", "ensemble") as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.keys("Up")  # `exit`, the last line typed
        c.tmux.keys("Up")
        c.tmux.wait_for("remembered_value = 'from the first console'", timeout=10)


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kernel", KERNELS)
def test_piped_mode_runs_cells_and_reports_errors_in_the_exit_code(console_env, kernel):
    def run(script):
        return subprocess.run([str(ENSEMBLE_BIN), "console", "--kernel", kernel], input=script, text=True,
                              capture_output=True, env=console_env, timeout=60)

    ok = run("x = 20\nfor i in range(2):\n    x += 1\n\nprint('x is', x)\nx * 2\n")
    assert ok.returncode == 0, ok.stderr
    assert "x is 22" in ok.stdout
    assert "44" in ok.stdout
    failed = run("print('before')\n1/0\nprint('never')\n")
    assert failed.returncode != 0
    assert "before" in failed.stdout
    assert "ZeroDivisionError" in failed.stderr
    assert "never" not in failed.stdout


@pytest.mark.deadline(90)
def test_existing_attaches_to_a_running_kernel_and_leaves_it_running(console_env, tmp_path):
    connection_file = tmp_path / "kernel-attached.json"
    kernel = subprocess.Popen([str(ENSEMBLE_BIN), "kernel", "-f", str(connection_file)], env=console_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(connection_file.exists, 20)
        with Console(console_env, "--existing", str(connection_file)) as c:
            c.tmux.wait_for("In [1]:")
            c.tmux.type_line("attached = 6 * 7")
            c.tmux.type_line("attached")
            c.tmux.wait_for("Out[2]: 42")
            c.tmux.type_line("exit")
            assert wait_until(lambda: not c.tmux.alive(), 20)
        time.sleep(1.0)
        assert kernel.poll() is None, "an attached console must leave the kernel running"
    finally:
        kernel.kill()
        kernel.wait(10)


@pytest.mark.deadline(90)
def test_ctrl_c_at_the_prompt_clears_the_line_and_ctrl_d_asks_before_leaving(console_env):
    with Console(console_env, "--kernel", "ensemble") as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.keys("-l", "never_run = 1")
        c.tmux.keys("C-c")
        c.tmux.keys("-l", "'fresh line'")
        c.tmux.keys("Enter")
        c.tmux.wait_for("Out[1]: 'fresh line'")
        c.tmux.keys("C-d")
        c.tmux.wait_for("Do you really want to exit?")
        c.tmux.type_line("n")
        c.tmux.type_line("'still here'")
        c.tmux.wait_for("Out[2]: 'still here'")
        c.tmux.keys("C-d")
        c.tmux.wait_for("Do you really want to exit?")
        c.tmux.type_line("y")
        assert wait_until(lambda: not c.tmux.alive(), 20)


@pytest.mark.deadline(90)
def test_getpass_is_answered_without_echo(console_env):
    with Console(console_env, "--kernel", "ensemble") as c:
        c.tmux.wait_for("In [1]:")
        # The prompt is built at run time, so waiting for it does not match the typed line.
        c.tmux.type_line("import getpass; secret = getpass.getpass('tok' + 'en: ')")
        c.tmux.wait_for("token:")
        c.tmux.type_line("hunter2-secret")
        c.tmux.wait_for("In [2]:")
        c.tmux.type_line("len(secret)")
        screen = c.tmux.wait_for("Out[2]: 14")
        assert "hunter2-secret" not in screen


@pytest.mark.deadline(60)
@pytest.mark.parametrize("kernel", ["ensemble", "xpython"])
def test_piped_mode_drives_other_kernels_and_shows_help(console_env, kernel):
    run = subprocess.run([str(ENSEMBLE_BIN), "console", "--kernel", kernel], input="len?\n40 + 2\n", text=True,
                         capture_output=True, env=console_env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Return the number of items" in run.stdout
    assert "42" in run.stdout


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kernel", KERNELS)
def test_edit_opens_the_file_in_the_users_editor(console_env, kernel, tmp_path):
    target = tmp_path / "edited.py"
    target.write_text("value = 1\n")
    record = tmp_path / "editor-args.txt"
    editor = tmp_path / "fake-editor"
    # an editor that notes how it was called and changes the file, as a person would
    editor.write_text("#!/bin/sh\necho \"$@\" > %s\necho 'value = 2' > \"$1\"\n" % record)
    editor.chmod(0o755)
    env = dict(console_env, EDITOR=str(editor), VISUAL="")
    with Console(env, "--kernel", kernel) as c:
        c.tmux.wait_for("In [1]:")
        c.tmux.type_line("%%edit %s" % target)
        c.tmux.wait_for("In [2]:")
        assert wait_until(lambda: record.exists(), 10), c.tmux.screen()
        assert record.read_text().split() == [str(target)]
        assert target.read_text() == "value = 2\n"

"""Driving the kernel from a real terminal front end: jupyter console in tmux."""

import os
import shutil
import signal
import time
import uuid

import pytest

from tmux_driver import Tmux, pids_mentioning

JUPYTER_CONSOLE = "/usr/bin/jupyter-console"  # its shebang is Debian's python3


@pytest.mark.skipif(not shutil.which("tmux"), reason="tmux not installed")
@pytest.mark.deadline(90)
def test_jupyter_console_evaluates_and_exits(kernel_target, tmp_path):
    assert os.path.exists(JUPYTER_CONSOLE), "jupyter-console is not installed"
    runtime = tmp_path / ("runtime-" + uuid.uuid4().hex)
    state = tmp_path / "state"
    env = kernel_target.kernel_env(state, JUPYTER_RUNTIME_DIR=str(runtime))
    pass_env = [
        "JUPYTER_PATH", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR",
        "IPYTHONDIR", "ENSEMBLE_HISTORY", "MPLCONFIGDIR", "PYDEVD_DISABLE_FILE_VALIDATION",
    ]
    env_args = []
    for name in pass_env:
        if name in env:
            env_args += ["-e", "%s=%s" % (name, env[name])]

    tmux = Tmux("ensemble-test-" + uuid.uuid4().hex[:12])
    try:
        tmux.run(
            "new-session", "-d", "-s", "console", "-x", "160", "-y", "50", *env_args,
            "%s --kernel %s" % (JUPYTER_CONSOLE, kernel_target.name),
        )
        tmux.wait_for("In [1]:", timeout=30)
        tmux.type_line("1+1")
        tmux.wait_for("Out[1]: 2", timeout=30)
        tmux.type_line("print('console ' + 'works')")
        tmux.wait_for("console works", timeout=30)
        tmux.type_line("exit")
        deadline = time.monotonic() + 20
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not tmux.alive(), "console did not exit; screen:\n" + tmux.screen()
        # the console shut its kernel down: no process uses our runtime dir any more
        deadline = time.monotonic() + 10
        while pids_mentioning(str(runtime)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pids_mentioning(str(runtime)) == [], "kernel still running after console exit"
    finally:
        tmux.run("kill-server", check=False)
        for pid in pids_mentioning(str(runtime)):  # the kernel (and console) we started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

"""Driving the kernel from a real terminal front end: jupyter console in tmux."""

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

JUPYTER_CONSOLE = "/usr/bin/jupyter-console"  # its shebang is Debian's python3


def pids_mentioning(text):
    """PIDs of processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


class Tmux:
    def __init__(self, socket_name):
        self.socket_name = socket_name

    def run(self, *args, check=True):
        return subprocess.run(
            ["tmux", "-L", self.socket_name, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def screen(self):
        proc = self.run("capture-pane", "-p", "-J", "-S", "-200", "-t", "console", check=False)
        return proc.stdout

    def alive(self):
        return self.run("has-session", "-t", "console", check=False).returncode == 0

    def type_line(self, text):
        self.run("send-keys", "-t", "console", "-l", text)
        self.run("send-keys", "-t", "console", "Enter")

    def wait_for(self, text, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            if not self.alive():
                break
            time.sleep(0.2)
        pytest.fail("%r did not appear within %.0f s; screen:\n%s" % (text, timeout, self.screen()))


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

"""Driving terminal programs in tmux: a private tmux server per test."""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

# Environment a console (and the kernels it starts) needs from the test session.
PASSED_ENV = [
    "JUPYTER_PATH", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR",
    "IPYTHONDIR", "ENSEMBLE_HISTORY", "MPLCONFIGDIR", "PYDEVD_DISABLE_FILE_VALIDATION", "PYTHONPATH",
    "EDITOR", "VISUAL",
]


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

    def keys(self, *keys):
        self.run("send-keys", "-t", "console", *keys)

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



def start_in_tmux(command, env, width=160, height=50):
    """Runs `command` in a new private tmux server; returns the Tmux handle."""
    env_args = []
    for name in PASSED_ENV:
        if name in env:
            env_args += ["-e", "%s=%s" % (name, env[name])]
    tmux = Tmux("ensemble-test-" + uuid.uuid4().hex[:12])
    tmux.run("new-session", "-d", "-s", "console", "-x", str(width), "-y", str(height), *env_args, command)
    return tmux


def kill_processes_mentioning(text):
    for pid in pids_mentioning(text):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

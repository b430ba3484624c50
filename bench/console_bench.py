#!/usr/bin/python3
"""Console benchmark: `ensemble console` against `jupyter console`, same run.

Measures, each in a private tmux server (the terminal a person would use):
  - launch to first prompt, with a fresh kernel each time (each console on the
    Ensemble kernel, so the kernel's own startup is the same for both);
  - `1+1` typed to `Out[n]: 2` on screen;
  - RSS of the console process once the prompt is up (kernel not included).

    bench/console_bench.py [--runs N] [--markdown FILE]

Run through bench/run-console-bench.sh, which points both consoles at the
kernelspec of this build.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENSEMBLE = os.environ.get("ENSEMBLE_BIN", os.path.join(REPO, "build", "bin", "ensemble"))
JUPYTER_CONSOLE = "/usr/bin/jupyter-console"


class Terminal:
    """One tmux server with one pane running `command`."""

    def __init__(self, command, env):
        self.socket = "ensemble-bench-" + uuid.uuid4().hex[:10]
        self.env = env
        self._tmux("new-session", "-d", "-s", "b", "-x", "160", "-y", "50", command)

    def _tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, env=self.env, timeout=10)

    def screen(self):
        return self._tmux("capture-pane", "-p", "-J", "-t", "b").stdout

    def wait_for(self, text, timeout=60.0, poll=0.002):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if text in self.screen():
                return time.perf_counter()
            time.sleep(poll)
        raise TimeoutError("%r not shown; screen:\n%s" % (text, self.screen()))

    def type_line(self, text):
        self._tmux("send-keys", "-t", "b", "-l", text)
        self._tmux("send-keys", "-t", "b", "Enter")

    def pane_pid(self):
        return int(self._tmux("display-message", "-p", "-t", "b", "#{pane_pid}").stdout.strip())

    def close(self):
        self._tmux("kill-server")


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def measure(name, command, env, runs):
    launch, round_trip, rss = [], [], []
    for run in range(runs):
        started = time.perf_counter()
        term = Terminal(command, env)
        try:
            launch.append(term.wait_for("In [1]:") - started)
            rss.append(rss_mib(term.pane_pid()))
            for n in range(1, 6):
                typed = time.perf_counter()
                term.type_line("1+1")
                round_trip.append(term.wait_for("Out[%d]: 2" % n) - typed)
                term.wait_for("In [%d]:" % (n + 1))
        finally:
            term.close()
            time.sleep(0.3)
    return {"name": name, "launch_s": statistics.median(launch), "roundtrip_s": statistics.median(round_trip),
            "rss_mib": statistics.median(rss)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        env["JUPYTER_RUNTIME_DIR"] = os.path.join(tmp, "runtime")
        env.setdefault("ENSEMBLE_HISTORY", os.path.join(tmp, "history.sqlite"))
        history = os.path.join(tmp, "console_history")
        ours = measure("ensemble console", "%s console --no-confirm-exit --history-file %s" % (ENSEMBLE, history),
                       env, args.runs)
        theirs = measure("jupyter console", "%s --kernel ensemble" % JUPYTER_CONSOLE, env, args.runs)
    rows = [
        ("launch to first prompt [ms]", ours["launch_s"] * 1e3, theirs["launch_s"] * 1e3),
        ("`1+1` typed to `Out` shown [ms]", ours["roundtrip_s"] * 1e3, theirs["roundtrip_s"] * 1e3),
        ("console RSS at the prompt [MiB]", ours["rss_mib"], theirs["rss_mib"]),
    ]
    lines = ["| metric | ensemble console | jupyter console | jupyter / ensemble |", "|---|---:|---:|---:|"]
    for label, a, b in rows:
        lines.append("| %s | %.1f | %.1f | %.2f |" % (label, a, b, b / a if a else float("nan")))
    lines.append("")
    lines.append("Medians of %d launches (5 round trips each), both consoles on the Ensemble kernel, in tmux; "
                 "screen polled every 2 ms." % args.runs)
    report = "\n".join(lines)
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

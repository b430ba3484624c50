"""The processes of a cluster as a Cluster object sees them: which pids are still Ensemble's,
and ending them."""

import os
import signal
import time


def ours(pid):
    """Whether ``pid`` is a live ensemble process (once a process is gone its pid may be
    another program's)."""
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and os.path.basename(exe.replace(" (deleted)", "")) == "ensemble"


def end_processes(pids, grace=5.0):
    """SIGTERM, then SIGKILL for whatever is left after ``grace`` seconds (engines, or any
    process of a cluster)."""
    live = [pid for pid in pids if ours(pid)]
    for pid in live:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(ours(pid) for pid in live):
        time.sleep(0.02)
    for pid in live:
        if ours(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

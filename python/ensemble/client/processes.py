"""The processes of a cluster as a Cluster object sees them: which pids are still Ensemble's,
ending them, and running its coroutines from synchronous code."""

import asyncio
import os
import signal
import threading
import time


def run_sync(coro_function, *args, **kwargs):
    """Run a coroutine to completion, also from inside a running event loop
    (then on a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # asyncio.run() leaves the thread without a current loop; the thread's own (an
        # Ensemble kernel's, for a cell's `asyncio.Task(...)` or `await`) comes back after.
        previous = getattr(getattr(asyncio.get_event_loop_policy(), "_local", None), "_loop", None)
        try:
            return asyncio.run(coro_function(*args, **kwargs))
        finally:
            if previous is not None and not previous.is_closed():
                asyncio.set_event_loop(previous)
    box = {}

    def target():
        try:
            box["value"] = asyncio.run(coro_function(*args, **kwargs))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


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

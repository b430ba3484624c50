"""Small helpers shared by the harness: the clock, statistics, /proc readers, the failure type."""

import math
import statistics
import time

NS = 1e-9  # perf_counter_ns ticks -> seconds


class KernelFailed(Exception):
    """The kernel died, timed out or answered wrongly; it is dropped from later metrics."""


def now_ns():
    return time.perf_counter_ns()


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def summarize(vals):
    s = sorted(vals)
    return dict(n=len(s), median=statistics.median(s), min=s[0], max=s[-1],
                p99=percentile(s, 99), mean=statistics.fmean(s))


def rotated(seq, i):
    """seq rotated by i: interleaving order changes per round so no kernel is always first."""
    if not seq:
        return []
    i %= len(seq)
    return seq[i:] + seq[:i]


def rss_kib(pid):
    """(VmRSS, VmHWM) in KiB from /proc/PID/status, or (None, None)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        return None, None
    return out.get("VmRSS"), out.get("VmHWM")


def log_tail(path, n=15):
    """The last n lines of a kernel log, indented for an error message ('' if unreadable)."""
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("      | " + l for l in lines[-n:])
    except OSError:
        return ""

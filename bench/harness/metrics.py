"""The timed measurements, each on one client (a real kernel or the fake kernel).

The garbage collector is off inside every timed region so that a collection in the
client does not land in one kernel's numbers; requests are serialized before the timer.
"""

import gc
import json
import time

from .client import DELIM
from .common import NS, now_ns, rss_kib

PRINT_N = 100_000
PRINT_CODE = "for i in range(100000): print(i)"
PRINT_EXPECTED = "".join(f"{i}\n" for i in range(PRINT_N))
BIG_N = 10_000_000
BIG_CODE = "'x' * 10_000_000"


def startup(kernel, timeout=30.0):
    """Fresh kernel: start_kernel -> first kernel_info_reply. Returns (seconds, rss KiB)."""
    t0 = kernel.start()
    mid, frames = kernel.request("kernel_info_request", {})
    kernel.shell.send_multipart(frames)  # queued by zmq until the kernel's socket is bound
    deadline = time.monotonic() + timeout
    while True:
        if kernel.shell.poll(250):
            m = kernel.shell.recv_multipart()
            t1 = now_ns()
            if mid in m[m.index(DELIM) + 3]:
                break
        else:
            if not kernel.alive():
                kernel.fail("kernel process exited during startup")
            if time.monotonic() > deadline:
                kernel.fail(f"no kernel_info_reply within {timeout:.0f}s")
    rss, _ = rss_kib(kernel.pid)
    return (t1 - t0) * NS, rss


def round_trips(client, n, timeout=30.0):
    """n sequential execute('pass') round trips; list of seconds.

    Blocking recv on shell (the reply), then on iopub until the idle: cheaper for the
    client than a zmq.Poller loop (one wake-up per message, no pollitem building).
    """
    reqs = [client.execute_request("pass") for _ in range(n)]
    client.drain()
    shell, iopub, recv = client.shell, client.iopub, client.recv_parts
    out = []
    all_replies = []
    deadline = time.monotonic() + timeout + n * 0.1
    gc.collect()
    gc.disable()
    try:
        for mid, frames in reqs:
            t0 = now_ns()
            shell.send_multipart(frames)
            all_replies.append(recv(shell, deadline))
            while True:
                p = recv(iopub, deadline)
                if b'"status"' in p[0] and mid in p[1] and b"idle" in p[3]:
                    break
            out.append((now_ns() - t0) * NS)
    finally:
        gc.enable()
    client.check_replies(all_replies, [m for m, _ in reqs], "round trip")
    return out


def pipelined(client, k, timeout=120.0):
    """K execute('pass') back to back. Returns (requests/s, client CPU share of the wall time)."""
    reqs = [client.execute_request("pass") for _ in range(k)]
    client.drain()
    shell = client.shell
    gc.collect()
    gc.disable()
    try:
        c0 = time.process_time()
        t0 = now_ns()
        for _, frames in reqs:
            shell.send_multipart(frames)
        t_reply, t_idle, replies, _ = client.collect(k, reqs[-1][0], timeout)
        c1 = time.process_time()
    finally:
        gc.enable()
    client.check_replies(replies, [m for m, _ in reqs], "pipelined")
    dt = (max(t_reply, t_idle) - t0) * NS
    return k / dt, (c1 - c0) / dt


def print_lines(client, timeout=300.0):
    """PRINT_CODE to idle: stream messages, text bytes, bytes/s, completeness and order."""
    mid, frames = client.execute_request(PRINT_CODE)
    client.drain()
    gc.collect()
    gc.disable()
    try:
        c0 = time.process_time()
        t0 = now_ns()
        client.shell.send_multipart(frames)
        t_reply, t_idle, replies, iop = client.collect(1, mid, timeout, keep_iopub=True, idle_grace=5.0)
        c1 = time.process_time()
    finally:
        gc.enable()
    client.check_replies(replies, [mid], "print 100k")
    dt = ((t_idle or t_reply) - t0) * NS
    nmsg = 0
    chunks = []
    nbytes = 0
    for parts in iop:
        if b'"stream"' not in parts[0] or mid not in parts[1]:
            continue
        content = json.loads(parts[3])
        nmsg += 1
        text = content.get("text", "")
        nbytes += len(text.encode("utf-8"))
        if content.get("name") == "stdout":
            chunks.append(text)
    got = "".join(chunks)
    complete = got == PRINT_EXPECTED
    problem = None
    if not complete:
        gl, el = got.split("\n"), PRINT_EXPECTED.split("\n")
        first_bad = next((i for i, (a, b) in enumerate(zip(gl, el)) if a != b), min(len(gl), len(el)))
        problem = (f"{len(gl) - 1} lines received vs {PRINT_N}; first difference at line {first_bad}: "
                   f"{gl[first_bad] if first_bad < len(gl) else '<missing>'!r}")
    if t_idle is None:
        complete = False
        problem = "iopub status idle never arrived (time measured to execute_reply); " + (problem or "")
    return dict(seconds=dt, messages=nmsg, bytes=nbytes, bytes_per_s=nbytes / dt,
                complete=complete, problem=problem, client_cpu=(c1 - c0) / dt)


def big_result(client, timeout=300.0):
    """BIG_CODE to idle; checks the 10,000,002-char text/plain of the execute_result."""
    mid, frames = client.execute_request(BIG_CODE)
    client.drain()
    gc.collect()
    gc.disable()
    try:
        t0 = now_ns()
        client.shell.send_multipart(frames)
        t_reply, t_idle, replies, iop = client.collect(1, mid, timeout, keep_iopub=True, idle_grace=5.0)
    finally:
        gc.enable()
    client.check_replies(replies, [mid], "10 MB result")
    size = None
    for parts in iop:
        if b'"execute_result"' in parts[0] and mid in parts[1]:
            data = json.loads(parts[3]).get("data", {})
            size = len(data.get("text/plain", ""))
    return dict(seconds=((t_idle or t_reply) - t0) * NS, text_plain_chars=size,
                ok=size == BIG_N + 2 and t_idle is not None, idle_lost=t_idle is None)

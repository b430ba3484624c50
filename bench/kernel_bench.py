#!/usr/bin/python3
"""Benchmark Jupyter kernels side by side: Ensemble against xeus-python and ipykernel.

Run with the Debian interpreter, which has jupyter_client and pyzmq:

    /usr/bin/python3 bench/kernel_bench.py [--kernels ensemble,xpython,python3]
        [--quick] [--json out.json] [--markdown out.md]

(bench/run.sh installs the ensemble kernelspec from build/bin/ensemble first.)

Metrics, all measured in one run with every kernel, interleaved per metric:
  1. startup        KernelManager.start_kernel() -> first kernel_info_reply on shell
                    (fresh kernel per sample, median)
  2. round trip     execute_request('pass') -> execute_reply AND iopub idle (median, p99)
  3. pipelined      K execute_requests sent back to back -> all K replies + last idle
  4. print 100k     `for i in range(100000): print(i)`: stream messages, bytes, bytes/s,
                    completeness and order
  5. RSS            VmRSS of the kernel pid at ready and after all the work
  6. 10 MB result   `'x' * 10_000_000` as last expression -> iopub idle

The client is a minimal one: jupyter_client.session.Session only signs the
pre-serialized requests; replies are read with raw pyzmq recv_multipart and
classified by byte-substring checks (no HMAC verification, no date parsing,
JSON decoding only where needed, mostly after the timer stopped).  Waiting is
a blocking zmq poll, never a sleep.
"""

import argparse
import atexit
import gc
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import zmq

# jupyter_client resolves the `python3` spec by importing ipykernel.kernelspec, which drags
# ipykernel, IPython and debugpy/pydevd into this timing client (and prints a pydevd
# warning).  Blocking that import makes it read /usr/share/jupyter/kernels/python3 instead.
sys.modules.setdefault("ipykernel.kernelspec", None)

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

DELIM = b"<IDS|MSG>"
NS = 1e-9

PRINT_N = 100_000
PRINT_CODE = "for i in range(100000): print(i)"
PRINT_EXPECTED = "".join(f"{i}\n" for i in range(PRINT_N))
BIG_N = 10_000_000
BIG_CODE = "'x' * 10_000_000"

# (startup samples, rtt iterations, rtt warmup, pipeline K, pipeline reps, print reps, big reps)
PROFILES = {
    "quick": dict(startup=3, rtt=500, rtt_warmup=50, pipe_k=500, pipe_reps=3, print_reps=1, big_reps=1),
    "full": dict(startup=10, rtt=2000, rtt_warmup=200, pipe_k=2000, pipe_reps=5, print_reps=3, big_reps=3),
}
RTT_BLOCK = 100  # round-trip iterations per kernel before switching to the next kernel


class KernelFailed(Exception):
    """The kernel died, timed out or answered wrongly; it is dropped from later metrics."""


# ---------------------------------------------------------------- cleanup

_LIVE = []  # every KernelManager ever started; killed at exit whatever happens
_PROCS = []  # other child processes (the echo server)


def _kill_km(km):
    proc = getattr(getattr(km, "provisioner", None), "process", None)
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # launch_kernel starts a new session: pgid == pid
        except OSError:
            try:
                proc.kill()
            except OSError:
                pass
    try:
        proc.wait(timeout=5)
    except Exception:
        pass


def cleanup_all():
    while _PROCS:
        p = _PROCS.pop()
        if p.poll() is None:
            p.kill()
        try:
            p.wait(timeout=5)
        except Exception:
            pass
    while _LIVE:
        km = _LIVE.pop()
        _kill_km(km)
        try:
            km.cleanup_resources()
        except Exception:
            pass


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------- helpers

def now_ns():
    return time.perf_counter_ns()


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


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def log_tail(path, n=15):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("      | " + l for l in lines[-n:])
    except OSError:
        return ""


def rotated(seq, i):
    """seq rotated by i: interleaving order changes per round so no kernel is always first."""
    if not seq:
        return []
    i %= len(seq)
    return seq[i:] + seq[:i]


# ---------------------------------------------------------------- minimal client

class Kernel:
    """One running kernel plus a minimal raw-zmq client for it."""

    def __init__(self, name, ctx, tmpdir, env, tag):
        self.name = name
        self.ctx = ctx
        self.log_path = os.path.join(tmpdir, f"{name}-{tag}.log")
        self.env = env
        self.km = KernelManager(kernel_name=name,
                                connection_file=os.path.join(tmpdir, f"{name}-{tag}.json"))
        self.km.shutdown_wait_time = 3.0
        self.km.kernel_spec  # resolve the spec outside the timed region
        self.shell = self.iopub = None
        self.poller = None
        self.logf = None

    # -- lifecycle

    def start(self):
        """Launch the process and connect; returns the ns timestamp taken just before launch."""
        self.logf = open(self.log_path, "wb")
        _LIVE.append(self.km)
        t0 = now_ns()
        self.km.start_kernel(env=self.env, stdout=self.logf, stderr=self.logf)
        self.session = self.km.session
        ci = self.km.get_connection_info()
        url = f"{ci['transport']}://{ci['ip']}:" if ci["transport"] == "tcp" else f"{ci['transport']}://{ci['ip']}-"
        self.shell = self.ctx.socket(zmq.DEALER)
        self.shell.setsockopt(zmq.IDENTITY, self.session.bsession)
        self.iopub = self.ctx.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        for s in (self.shell, self.iopub):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVHWM, 0)  # never drop: the client drains into an unbounded queue
            s.setsockopt(zmq.SNDHWM, 0)
            s.setsockopt(zmq.RECONNECT_IVL, 2)  # ms; default 100 ms would quantise startup
            s.setsockopt(zmq.RCVTIMEO, 250)  # blocking recv wakes up to check liveness/deadline
        self.shell.connect(url + str(ci["shell_port"]))
        self.iopub.connect(url + str(ci["iopub_port"]))
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)
        return t0

    @property
    def proc(self):
        return self.km.provisioner.process

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close_sockets(self):
        for s in (self.shell, self.iopub):
            if s is not None:
                s.close(linger=0)
        self.shell = self.iopub = None

    def stop(self, now=True):
        self.close_sockets()
        try:
            self.km.shutdown_kernel(now=now)
        except Exception:
            _kill_km(self.km)
        _kill_km(self.km)  # no-op if already gone
        if self.km in _LIVE:
            _LIVE.remove(self.km)
        if self.logf:
            self.logf.close()
            self.logf = None

    # -- messaging

    def request(self, msg_type, content):
        """Pre-serialize one request: (msg_id bytes, wire frames)."""
        msg = self.session.msg(msg_type, content)
        return msg["header"]["msg_id"].encode(), self.session.serialize(msg)

    def execute_request(self, code):
        return self.request("execute_request", {
            "code": code, "silent": False, "store_history": True,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True,
        })

    def fail(self, what):
        state = "alive" if self.alive() else f"dead (exit {self.proc.poll()})"
        raise KernelFailed(f"{self.name}: {what}; kernel {state}\n{log_tail(self.log_path)}")

    def drain(self):
        """Discard anything already queued (late output of a previous request)."""
        for s in (self.shell, self.iopub):
            while True:
                try:
                    s.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break

    def collect(self, n_replies, idle_mid, timeout, keep_iopub=False, idle_grace=None):
        """Receive until `n_replies` shell replies and iopub status idle whose parent is idle_mid.

        Returns (t_last_reply_ns, t_idle_ns, replies, iopub) where replies / iopub are
        lists of [header, parent, metadata, content, ...] raw frames (iopub only if kept).
        Shell replies are counted, not matched, in the hot loop (callers drain first and
        verify parents afterwards).  With idle_grace, a kernel that has replied but then
        sends nothing on iopub for idle_grace seconds without the idle gets t_idle None
        (a lost idle) instead of a timeout.
        """
        shell, iopub, poll = self.shell, self.iopub, self.poller.poll
        NOBLOCK, Again = zmq.NOBLOCK, zmq.Again
        replies, kept = [], []
        t_reply = t_idle = None
        deadline = time.monotonic() + timeout
        quiet_since = None
        while t_reply is None or t_idle is None:
            events = poll(250)
            if not events:
                if not self.alive():
                    self.fail("kernel process exited")
                if idle_grace is not None and t_reply is not None:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > idle_grace:
                        return t_reply, None, replies, kept
                if time.monotonic() > deadline:
                    self.fail(f"timeout after {timeout:.0f}s ({len(replies)}/{n_replies} replies, "
                              f"idle {'seen' if t_idle else 'not seen'})")
                continue
            quiet_since = None
            for sock, _ in events:
                if sock is shell:
                    while True:
                        try:
                            m = shell.recv_multipart(NOBLOCK)
                        except Again:
                            break
                        replies.append(m[m.index(DELIM) + 2:])
                        if len(replies) == n_replies:
                            t_reply = now_ns()
                else:
                    while True:
                        try:
                            m = iopub.recv_multipart(NOBLOCK)
                        except Again:
                            break
                        parts = m[m.index(DELIM) + 2:]
                        if keep_iopub:
                            kept.append(parts)
                        if (t_idle is None and b'"status"' in parts[0] and idle_mid in parts[1]
                                and b"idle" in parts[3]):
                            t_idle = now_ns()
            if time.monotonic() > deadline:
                self.fail(f"timeout after {timeout:.0f}s")
        return t_reply, t_idle, replies, kept

    def check_replies(self, replies, mids, what):
        want = set(mids)
        for r in replies:
            parent = json.loads(r[1])
            content = json.loads(r[3])
            if parent.get("msg_id", "").encode() not in want:
                self.fail(f"{what}: reply to unexpected parent {parent.get('msg_id')!r}")
            if content.get("status") != "ok":
                self.fail(f"{what}: reply status {content.get('status')!r}: "
                          f"{content.get('ename')} {content.get('evalue')}")

    def wait_ready(self, timeout=60.0):
        """kernel_info until a reply arrives AND iopub is live (a status for one of ours seen)."""
        deadline = time.monotonic() + timeout
        mids = []
        got_reply = got_iopub = False
        while not (got_reply and got_iopub):
            mid, frames = self.request("kernel_info_request", {})
            mids.append(mid)
            self.shell.send_multipart(frames)
            resend = time.monotonic() + 0.5
            while not (got_reply and got_iopub) and time.monotonic() < resend:
                if time.monotonic() > deadline:
                    self.fail("not ready: no kernel_info_reply plus iopub status")
                events = dict(self.poller.poll(100))
                if not events and not self.alive():
                    self.fail("kernel process exited during startup")
                for sock in events:
                    m = sock.recv_multipart()
                    parent = m[m.index(DELIM) + 3]
                    if any(x in parent for x in mids):
                        if sock is self.shell:
                            got_reply = True
                        else:
                            got_iopub = True
        # let the idle of the last kernel_info arrive, then start clean
        t_end = time.monotonic() + 0.2
        while time.monotonic() < t_end and self.iopub.poll(50):
            self.iopub.recv_multipart()
        self.drain()

    # -- individual measurements

    def measure_startup(self, timeout=30.0):
        """Fresh kernel: start_kernel -> first kernel_info_reply. Returns (seconds, rss KiB)."""
        t0 = self.start()
        mid, frames = self.request("kernel_info_request", {})
        self.shell.send_multipart(frames)  # queued by zmq until the kernel's socket is bound
        deadline = time.monotonic() + timeout
        while True:
            if self.shell.poll(250):
                m = self.shell.recv_multipart()
                t1 = now_ns()
                if mid in m[m.index(DELIM) + 3]:
                    break
            else:
                if not self.alive():
                    self.fail("kernel process exited during startup")
                if time.monotonic() > deadline:
                    self.fail(f"no kernel_info_reply within {timeout:.0f}s")
        rss, _ = rss_kib(self.pid)
        return (t1 - t0) * NS, rss

    def _recv(self, sock, deadline):
        """Blocking receive (wakes every RCVTIMEO to check the kernel); the parts after the signature."""
        while True:
            try:
                m = sock.recv_multipart()
                return m[m.index(DELIM) + 2:]
            except zmq.Again:
                if not self.alive():
                    self.fail("kernel process exited")
                if time.monotonic() > deadline:
                    self.fail("timeout waiting for a reply")

    def roundtrips(self, n, timeout=30.0):
        """n sequential execute('pass') round trips; list of seconds.

        Blocking recv on shell (the reply), then on iopub until the idle: cheaper for the
        client than a zmq.Poller loop (one wake-up per message, no pollitem building).
        """
        reqs = [self.execute_request("pass") for _ in range(n)]
        self.drain()
        shell, iopub, recv = self.shell, self.iopub, self._recv
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
        self.check_replies(all_replies, [m for m, _ in reqs], "round trip")
        return out

    def pipelined(self, k, timeout=120.0):
        """K execute('pass') back to back. Returns (requests/s, seconds)."""
        reqs = [self.execute_request("pass") for _ in range(k)]
        self.drain()
        shell = self.shell
        gc.collect()
        gc.disable()
        try:
            c0 = time.process_time()
            t0 = now_ns()
            for _, frames in reqs:
                shell.send_multipart(frames)
            t_reply, t_idle, replies, _ = self.collect(k, reqs[-1][0], timeout)
            c1 = time.process_time()
        finally:
            gc.enable()
        self.check_replies(replies, [m for m, _ in reqs], "pipelined")
        dt = (max(t_reply, t_idle) - t0) * NS
        return k / dt, (c1 - c0) / dt

    def print_lines(self, timeout=300.0):
        mid, frames = self.execute_request(PRINT_CODE)
        self.drain()
        gc.collect()
        gc.disable()
        try:
            c0 = time.process_time()
            t0 = now_ns()
            self.shell.send_multipart(frames)
            t_reply, t_idle, replies, iop = self.collect(1, mid, timeout, keep_iopub=True, idle_grace=5.0)
            c1 = time.process_time()
        finally:
            gc.enable()
        self.check_replies(replies, [mid], "print 100k")
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

    def big_result(self, timeout=300.0):
        mid, frames = self.execute_request(BIG_CODE)
        self.drain()
        gc.collect()
        gc.disable()
        try:
            t0 = now_ns()
            self.shell.send_multipart(frames)
            t_reply, t_idle, replies, iop = self.collect(1, mid, timeout, keep_iopub=True, idle_grace=5.0)
        finally:
            gc.enable()
        self.check_replies(replies, [mid], "10 MB result")
        size = None
        for parts in iop:
            if b'"execute_result"' in parts[0] and mid in parts[1]:
                data = json.loads(parts[3]).get("data", {})
                size = len(data.get("text/plain", ""))
        return dict(seconds=((t_idle or t_reply) - t0) * NS, text_plain_chars=size,
                    ok=size == BIG_N + 2 and t_idle is not None, idle_lost=t_idle is None)


class EchoFloor:
    """Client + transport floor for the round trip.

    A child process runs zmq.proxy(router, router): libzmq echoes every message back in C,
    with no Python in the loop on that side.  The client sends the same pre-serialized
    execute_request and blocks for the one echoed reply (a kernel round trip needs at least
    a reply plus an iopub idle, so this is a lower bound for the client + zmq + TCP cost).
    """

    CODE = ("import zmq\nc = zmq.Context()\ns = c.socket(zmq.ROUTER)\n"
            "print(s.bind_to_random_port('tcp://127.0.0.1'), flush=True)\nzmq.proxy(s, s)\n")

    def __init__(self, ctx, session):
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _PROCS.append(self.proc)
        port = int(self.proc.stdout.readline())
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 5000)
        self.sock.connect(f"tcp://127.0.0.1:{port}")
        self.session = session

    def roundtrips(self, n):
        reqs = [self.session.serialize(self.session.msg("execute_request", {
            "code": "pass", "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})) for _ in range(n)]
        sock, out = self.sock, []
        gc.collect()
        gc.disable()
        try:
            for frames in reqs:
                t0 = now_ns()
                sock.send_multipart(frames)
                sock.recv_multipart()
                out.append((now_ns() - t0) * NS)
        finally:
            gc.enable()
        return out

    def close(self):
        self.sock.close(linger=0)
        self.proc.kill()
        self.proc.wait()


# ---------------------------------------------------------------- driver

def summarize(vals):
    s = sorted(vals)
    return dict(n=len(s), median=statistics.median(s), min=s[0], max=s[-1],
                p99=percentile(s, 99), mean=statistics.fmean(s))


def run(args):
    prof = dict(PROFILES["quick" if args.quick else "full"])
    for key in ("startup", "rtt", "pipe_k"):
        v = getattr(args, key.replace("-", "_"), None)
        if v:
            prof[key] = v
    t_begin = time.monotonic()
    load0 = os.getloadavg()[0]
    if load0 > 0.5:
        print(f"note: load average {load0:.2f} at start; other work on this machine adds noise", flush=True)

    ksm = KernelSpecManager()
    kernels = []
    skipped = {}
    for name in [k.strip() for k in args.kernels.split(",") if k.strip()]:
        try:
            spec = ksm.get_kernel_spec(name)
        except NoSuchKernel:
            msg = f"kernelspec '{name}' not found"
            if name == "ensemble":
                msg += " (install it with bench/run.sh, or set JUPYTER_PATH)"
            print(f"SKIP {name}: {msg}", flush=True)
            skipped[name] = msg
            continue
        print(f"kernel {name}: {' '.join(spec.argv)}", flush=True)
        kernels.append(name)
    if not kernels:
        print("no kernels to benchmark", file=sys.stderr)
        return None

    calibration = {}
    tmpdir = tempfile.mkdtemp(prefix="ensemble-bench-")
    env = dict(os.environ)
    env.setdefault("ENSEMBLE_HISTORY", os.path.join(tmpdir, "ensemble-history.sqlite"))
    env["IPYTHONDIR"] = os.path.join(tmpdir, "ipython")  # hermetic history/profile for ipykernel
    ctx = zmq.Context()
    failed = {}
    res = {k: {} for k in kernels}
    live = []  # names still usable for the remaining metrics

    def ok(names):
        return [k for k in names if k not in failed]

    def record_fail(name, err):
        msg = str(err)
        print(f"  FAIL {msg}", flush=True)
        failed[name] = msg.splitlines()[0]

    try:
        # 1. startup: fresh kernel per sample, one discarded warm-up each, interleaved
        print(f"\n[startup]: {prof['startup']} fresh kernels each (+1 warm-up)", flush=True)
        samples = {k: [] for k in kernels}
        rss_start = {k: [] for k in kernels}
        for rnd in range(prof["startup"] + 1):
            for name in rotated(ok(kernels), rnd):
                k = Kernel(name, ctx, tmpdir, env, f"startup{rnd}")
                try:
                    dt, rss = k.measure_startup()
                    if rnd > 0:
                        samples[name].append(dt)
                        rss_start[name].append(rss)
                except KernelFailed as e:
                    record_fail(name, e)
                finally:
                    k.stop(now=True)
        for name in kernels:
            if samples[name]:
                res[name]["startup"] = summarize(samples[name])
                print(f"  {name:10s} startup median {res[name]['startup']['median']*1e3:8.1f} ms "
                      f"(min {res[name]['startup']['min']*1e3:.1f}, max {res[name]['startup']['max']*1e3:.1f})",
                      flush=True)

        # long-lived kernels for the other metrics
        print("\n[rss]  RSS at ready (one long-lived kernel each)", flush=True)
        sess = {}
        for name in ok(kernels):
            k = Kernel(name, ctx, tmpdir, env, "main")
            sess[name] = k
            try:
                k.start()
                k.wait_ready()
                rss, hwm = rss_kib(k.pid)
                res[name]["rss_ready_kib"] = rss
                print(f"  {name:10s} pid {k.pid} VmRSS {rss/1024:.1f} MiB", flush=True)
            except KernelFailed as e:
                record_fail(name, e)
        live = [n for n in ok(kernels) if n in sess]

        # 2. round trip, interleaved in blocks
        n, warm = prof["rtt"], prof["rtt_warmup"]
        print(f"\n[round trip]: execute 'pass' x {n} (+{warm} warm-up), blocks of {RTT_BLOCK}", flush=True)
        rtts = {k: [] for k in live}
        echo = None
        try:
            echo = EchoFloor(ctx, sess[live[0]].session) if live else None
            if echo:
                echo.roundtrips(warm)
        except Exception as e:  # the floor is informative only
            print(f"  (echo floor unavailable: {e})", flush=True)
            echo = None
        echo_rtts = []
        for name in ok(live):
            try:
                sess[name].roundtrips(warm)
            except KernelFailed as e:
                record_fail(name, e)
        blocks = math.ceil(n / RTT_BLOCK)
        for b in range(blocks):
            cnt = min(RTT_BLOCK, n - b * RTT_BLOCK)
            for name in rotated(ok(live) + (["<echo>"] if echo else []), b):
                if name == "<echo>":
                    echo_rtts.extend(echo.roundtrips(cnt))
                    continue
                try:
                    rtts[name].extend(sess[name].roundtrips(cnt))
                except KernelFailed as e:
                    record_fail(name, e)
        if echo:
            echo.close()
            calibration["echo_rtt"] = s = summarize(echo_rtts)
            print(f"  {'zmq echo':10s} median {s['median']*1e6:8.1f} us  p99 {s['p99']*1e6:8.1f} us  "
                  f"(client + transport floor)", flush=True)
        for name in live:
            if name in failed or not rtts[name]:
                continue
            s = summarize(rtts[name])
            res[name]["rtt"] = s
            print(f"  {name:10s} median {s['median']*1e6:8.1f} us  p99 {s['p99']*1e6:8.1f} us  "
                  f"min {s['min']*1e6:.1f}  max {s['max']*1e6:.1f}", flush=True)

        # 3. pipelined
        K, reps = prof["pipe_k"], prof["pipe_reps"]
        print(f"\n[pipelined]: {K} execute 'pass' back to back, {reps} reps", flush=True)
        pipe = {k: [] for k in live}
        pipe_cpu = {k: [] for k in live}
        for rnd in range(reps):
            for name in rotated(ok(live), rnd):
                try:
                    rps, cpu = sess[name].pipelined(K)
                    pipe[name].append(rps)
                    pipe_cpu[name].append(cpu)
                except KernelFailed as e:
                    record_fail(name, e)
        for name in ok(live):
            if pipe[name]:
                res[name]["pipelined_rps"] = summarize(pipe[name])
                res[name]["pipelined_client_cpu"] = max(pipe_cpu[name])
                print(f"  {name:10s} {res[name]['pipelined_rps']['median']:10.0f} req/s "
                      f"(min {res[name]['pipelined_rps']['min']:.0f}, max {res[name]['pipelined_rps']['max']:.0f}; "
                      f"client cpu up to {max(pipe_cpu[name])*100:.0f}%)", flush=True)

        # 4. print 100k lines
        reps = prof["print_reps"]
        print(f"\n[print] 100k lines, {reps} rep(s)", flush=True)
        prints = {k: [] for k in live}
        for rnd in range(reps):
            for name in rotated(ok(live), rnd):
                try:
                    r = sess[name].print_lines()
                    prints[name].append(r)
                    print(f"  {name:10s} {r['seconds']:7.3f} s  {r['messages']:7d} msgs  {r['bytes']} B  "
                          f"{r['bytes_per_s']/1e6:7.2f} MB/s  complete={r['complete']}  "
                          f"client cpu {r['client_cpu']*100:.0f}%"
                          + (f"  PROBLEM: {r['problem']}" if r["problem"] else ""), flush=True)
                except KernelFailed as e:
                    record_fail(name, e)
        for name in ok(live):
            if prints[name]:
                rs = sorted(prints[name], key=lambda r: r["seconds"])
                med = rs[len(rs) // 2] if len(rs) % 2 else rs[len(rs) // 2 - 1]
                res[name]["print"] = dict(
                    seconds=statistics.median(r["seconds"] for r in rs),
                    bytes_per_s=statistics.median(r["bytes_per_s"] for r in rs),
                    messages=max(r["messages"] for r in rs),
                    bytes=med["bytes"],
                    complete=all(r["complete"] for r in rs),
                    problem=next((r["problem"] for r in rs if r["problem"]), None),
                    client_cpu_max=max(r["client_cpu"] for r in rs),
                    runs=prints[name])

        # 6. 10 MB execute_result
        reps = prof["big_reps"]
        print(f"\n[10 MB result] execute_result, {reps} rep(s)", flush=True)
        bigs = {k: [] for k in live}
        for rnd in range(reps):
            for name in rotated(ok(live), rnd):
                try:
                    r = sess[name].big_result()
                    bigs[name].append(r)
                    print(f"  {name:10s} {r['seconds']:7.3f} s  text/plain {r['text_plain_chars']} chars  "
                          f"ok={r['ok']}", flush=True)
                except KernelFailed as e:
                    record_fail(name, e)
        for name in ok(live):
            if bigs[name]:
                res[name]["big"] = dict(seconds=statistics.median(r["seconds"] for r in bigs[name]),
                                        ok=all(r["ok"] for r in bigs[name]), runs=bigs[name])

        # 5b. RSS after the work
        print("\n[rss]  RSS after work", flush=True)
        for name in live:
            k = sess[name]
            if k.alive():
                rss, hwm = rss_kib(k.pid)
                res[name]["rss_after_kib"] = rss
                res[name]["rss_peak_kib"] = hwm
                print(f"  {name:10s} VmRSS {rss/1024:.1f} MiB  VmHWM {hwm/1024:.1f} MiB", flush=True)

        for name in sess:
            sess[name].stop(now=False)
    finally:
        cleanup_all()
        ctx.destroy(linger=0)
        if args.keep_tmp:
            print(f"temp dir kept: {tmpdir}")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)

    return dict(profile="quick" if args.quick else "full", params=prof, kernels=kernels,
                calibration=calibration,
                skipped=skipped, failed=failed, results=res,
                wall_seconds=time.monotonic() - t_begin, load_at_start=load0, machine=machine_info())


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return dict(cpu=model, cores=os.cpu_count(), loadavg=os.getloadavg(), python=sys.version.split()[0],
                pyzmq=zmq.__version__, libzmq=zmq.zmq_version(), platform=platform.platform())


# ---------------------------------------------------------------- report

def _get(res, name, path):
    v = res.get(name, {})
    for p in path:
        if not isinstance(v, dict) or p not in v:
            return None
        v = v[p]
    return v


# (label, path, scale, fmt, better)
METRICS = [
    ("startup, median [ms]", ("startup", "median"), 1e3, "{:.1f}", "lower"),
    ("round trip `pass`, median [us]", ("rtt", "median"), 1e6, "{:.1f}", "lower"),
    ("round trip `pass`, p99 [us]", ("rtt", "p99"), 1e6, "{:.1f}", "lower"),
    ("pipelined [req/s]", ("pipelined_rps", "median"), 1, "{:.0f}", "higher"),
    ("print 100k: time to idle [s]", ("print", "seconds"), 1, "{:.3f}", "lower"),
    ("print 100k: stream messages", ("print", "messages"), 1, "{:.0f}", "lower"),
    ("print 100k: text bytes", ("print", "bytes"), 1, "{:.0f}", "-"),
    ("print 100k: throughput [MB/s]", ("print", "bytes_per_s"), 1e-6, "{:.2f}", "higher"),
    ("print 100k: complete & ordered", ("print", "complete"), None, "{}", "-"),
    ("RSS at ready [MiB]", ("rss_ready_kib",), 1 / 1024, "{:.1f}", "lower"),
    ("RSS after work [MiB]", ("rss_after_kib",), 1 / 1024, "{:.1f}", "lower"),
    ("RSS peak, VmHWM [MiB]", ("rss_peak_kib",), 1 / 1024, "{:.1f}", "lower"),
    ("10 MB result: time to idle [s]", ("big", "seconds"), 1, "{:.3f}", "lower"),
    ("10 MB result: text/plain intact", ("big", "ok"), None, "{}", "-"),
]


def evaluate_targets(out, subject, ref_x, ref_i):
    res = out["results"]

    def val(name, path):
        return _get(res, name, path)

    checks = []

    def check(desc, ok_fn, *needed):
        vals = [val(n, p) for n, p in needed]
        if any(v is None for v in vals):
            miss = sorted({n for (n, p), v in zip(needed, vals) if v is None})
            checks.append(dict(target=desc, status="n/a", detail=f"no data for {', '.join(miss)}"))
            return
        passed, detail = ok_fn(*vals)
        checks.append(dict(target=desc, status="PASS" if passed else "FAIL", detail=detail))

    s, x, i = subject, ref_x, ref_i
    check(f"round trip median <= 1/5 of {x}",
          lambda a, b: (a <= b / 5, f"{a*1e6:.1f} us vs limit {b/5*1e6:.1f} us ({x} {b*1e6:.1f} us)"),
          (s, ("rtt", "median")), (x, ("rtt", "median")))
    check(f"pipelined >= 5x {x}",
          lambda a, b: (a >= 5 * b, f"{a:.0f} req/s vs need {5*b:.0f} ({x} {b:.0f}; {a/b:.1f}x)"),
          (s, ("pipelined_rps", "median")), (x, ("pipelined_rps", "median")))
    check(f"pipelined >= 15x {i}",
          lambda a, b: (a >= 15 * b, f"{a:.0f} req/s vs need {15*b:.0f} ({i} {b:.0f}; {a/b:.1f}x)"),
          (s, ("pipelined_rps", "median")), (i, ("pipelined_rps", "median")))
    check(f"startup <= 1/2 of {x}",
          lambda a, b: (a <= b / 2, f"{a*1e3:.1f} ms vs limit {b/2*1e3:.1f} ms ({x} {b*1e3:.1f} ms)"),
          (s, ("startup", "median")), (x, ("startup", "median")))
    check(f"RSS at ready <= 1/2 of {x}",
          lambda a, b: (a <= b / 2, f"{a/1024:.1f} MiB vs limit {b/2/1024:.1f} MiB ({x} {b/1024:.1f} MiB)"),
          (s, ("rss_ready_kib",)), (x, ("rss_ready_kib",)))
    check(f"stream bytes/s >= {i}, no more messages, complete",
          lambda a, b, ma, mb, ca: (a >= b and ma <= mb and ca,
                                    f"{a/1e6:.2f} MB/s vs {b/1e6:.2f} MB/s; {ma} vs {mb} messages; "
                                    f"complete={ca}"),
          (s, ("print", "bytes_per_s")), (i, ("print", "bytes_per_s")),
          (s, ("print", "messages")), (i, ("print", "messages")), (s, ("print", "complete")))
    return checks


def fmt_ratio(r):
    if r >= 100:
        return f"{r:.0f}"
    if r >= 0.01:
        return f"{r:.3g}"
    return f"{r:.1e}"


def markdown(out, subject):
    res, kernels = out["results"], out["kernels"]
    with_data = [k for k in kernels if res.get(k)]
    base = subject if subject in with_data else (with_data or kernels)[0]
    others = [k for k in kernels if k != base and k in with_data]
    lines = []
    lines.append(f"## Kernel benchmark ({out['profile']} profile)\n")
    m = out["machine"]
    lines.append(f"Machine: {m['cpu']} x{m['cores']}, load {out['load_at_start']:.2f} at start, "
                 f"{m['loadavg'][0]:.2f} at end; "
                 f"Python {m['python']}, pyzmq {m['pyzmq']}, libzmq {m['libzmq']}. "
                 f"Run took {out['wall_seconds']:.0f} s.\n")
    if base != subject:
        lines.append(f"_`{subject}` was not run; ratios are relative to `{base}`._\n")
    hdr = ["metric"] + [f"{k}" for k in [base] + others] + [f"{k} / {base}" for k in others]
    lines.append("| " + " | ".join(hdr) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(hdr) - 1)) + "|")
    for label, path, scale, fmt, better in METRICS:
        row = [label + ("" if better == "-" else f" ({better} is better)")]
        for k in [base] + others:
            v = _get(res, k, path)
            if v is None:
                row.append("—")
            elif scale is None:
                row.append(fmt.format(v))
            else:
                row.append(fmt.format(v * scale))
        bv = _get(res, base, path)
        for k in others:
            v = _get(res, k, path)
            if scale is None or v is None or not bv:
                row.append("")
            else:
                row.append(fmt_ratio(v / bv))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    p = out["params"]
    lines.append(f"Samples: startup {p['startup']} fresh kernels each; round trip {p['rtt']} "
                 f"(p99 = nearest rank); pipelined K={p['pipe_k']} x {p['pipe_reps']}; "
                 f"print {p['print_reps']} rep(s); 10 MB {p['big_reps']} rep(s).\n")
    echo = out.get("calibration", {}).get("echo_rtt")
    if echo:
        lines.append(f"Client + transport floor: a libzmq echo (zmq.proxy in C, child process) answers the "
                     f"same execute_request in median {echo['median']*1e6:.1f} us, p99 {echo['p99']*1e6:.1f} us "
                     f"(interleaved with the kernels); every round trip above includes at least this much.\n")
    for k, why in out["skipped"].items():
        lines.append(f"- skipped `{k}`: {why}")
    for k, why in out["failed"].items():
        lines.append(f"- FAILED `{k}`: {why}")
    for k in kernels:
        pr = _get(res, k, ("print", "problem"))
        if pr:
            lines.append(f"- `{k}` print 100k incomplete: {pr}")
        for what, path in (("print 100k", ("print", "client_cpu_max")),
                           ("pipelined", ("pipelined_client_cpu",))):
            cpu = _get(res, k, path)
            if cpu is not None and cpu > 0.8:
                lines.append(f"- `{k}` {what}: client CPU {cpu*100:.0f}% of wall time (all client threads); "
                             f"the client may have limited this number")
    lines.append("")
    lines.append(f"### Targets for `{subject}`\n")
    for c in out["targets"]:
        lines.append(f"- **{c['status']}** {c['target']}: {c['detail']}")
    lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", default="ensemble,xpython,python3",
                    help="comma-separated kernelspec names (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="fewer samples (whole run < ~2 min)")
    ap.add_argument("--json", metavar="FILE", help="write all results as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="write the markdown report")
    ap.add_argument("--subject", default="ensemble",
                    help="kernel the ratios and targets are about (default: %(default)s)")
    ap.add_argument("--ref-xpython", default="xpython", help="xeus-python kernelspec for targets")
    ap.add_argument("--ref-ipykernel", default="python3", help="ipykernel kernelspec for targets")
    ap.add_argument("--startup", type=int, help="override: startup samples per kernel")
    ap.add_argument("--rtt", type=int, help="override: round-trip iterations per kernel")
    ap.add_argument("--pipe-k", type=int, help="override: pipelined batch size K")
    ap.add_argument("--keep-tmp", action="store_true", help="keep temp dir (kernel logs)")
    args = ap.parse_args()

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)
    atexit.register(cleanup_all)
    try:
        out = run(args)
    except KeyboardInterrupt:
        cleanup_all()
        print("\ninterrupted; all kernels stopped", file=sys.stderr)
        return 130
    if out is None:
        return 2
    out["targets"] = evaluate_targets(out, args.subject, args.ref_xpython, args.ref_ipykernel)
    md = markdown(out, args.subject)
    print("\n" + md)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

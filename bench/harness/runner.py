"""One benchmark run: every kernel, metric after metric, kernels interleaved within each.

Interleaving (rotating the order every round) makes machine noise hit all kernels alike.
A kernel that fails is recorded and left out of the remaining metrics; the run goes on.
"""

import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

import zmq
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from . import metrics
from .common import KernelFailed, rotated, rss_kib, summarize
from .floors import EchoFloor, ProtocolFloor
from .processes import Kernel, cleanup_all

# (startup samples, rtt iterations, rtt warmup, pipeline K, pipeline reps, print reps, big reps)
PROFILES = {
    "quick": dict(startup=3, rtt=500, rtt_warmup=50, pipe_k=500, pipe_reps=3, print_reps=1, big_reps=1),
    "full": dict(startup=10, rtt=2000, rtt_warmup=200, pipe_k=2000, pipe_reps=5, print_reps=3, big_reps=3),
}
RTT_BLOCK = 100  # round-trip iterations per kernel before switching to the next kernel

# Calibration timed as extra rows of the round-trip loop, interleaved like the kernels so
# that machine noise hits them alike (see floors.py).
FLOORS = (EchoFloor, ProtocolFloor)


def find_kernels(names):
    """(kernelspec names found, {skipped name: why})."""
    ksm = KernelSpecManager()
    kernels, skipped = [], {}
    for name in names:
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
    return kernels, skipped


class BenchRun:
    """State of a run: the long-lived kernels, results, failures, calibration."""

    def __init__(self, kernels, prof, ctx, tmpdir, env):
        self.kernels, self.prof, self.ctx, self.tmpdir, self.env = kernels, prof, ctx, tmpdir, env
        self.results = {k: {} for k in kernels}
        self.failed = {}
        self.calibration = {}
        self.sessions = {}  # name -> long-lived Kernel
        self.live = []  # names still usable for the remaining metrics

    def ok(self, names):
        return [k for k in names if k not in self.failed]

    def record_fail(self, name, err):
        msg = str(err)
        print(f"  FAIL {msg}", flush=True)
        self.failed[name] = msg.splitlines()[0]

    def measure_startup(self):
        """Fresh kernel per sample, one discarded warm-up each, interleaved."""
        kernels, res = self.kernels, self.results
        print(f"\n[startup]: {self.prof['startup']} fresh kernels each (+1 warm-up)", flush=True)
        samples = {k: [] for k in kernels}
        for rnd in range(self.prof["startup"] + 1):
            for name in rotated(self.ok(kernels), rnd):
                k = Kernel(name, self.ctx, self.tmpdir, self.env, f"startup{rnd}")
                try:
                    dt, _rss = metrics.startup(k)
                    if rnd > 0:
                        samples[name].append(dt)
                except KernelFailed as e:
                    self.record_fail(name, e)
                finally:
                    k.stop(now=True)
        for name in kernels:
            if samples[name]:
                s = res[name]["startup"] = summarize(samples[name])
                print(f"  {name:10s} startup median {s['median']*1e3:8.1f} ms "
                      f"(min {s['min']*1e3:.1f}, max {s['max']*1e3:.1f})", flush=True)

    def start_long_lived(self):
        """One kernel each for all other metrics; RSS right after it is ready."""
        print("\n[rss]  RSS at ready (one long-lived kernel each)", flush=True)
        for name in self.ok(self.kernels):
            k = Kernel(name, self.ctx, self.tmpdir, self.env, "main")
            self.sessions[name] = k
            try:
                k.start()
                k.wait_ready()
                rss, _hwm = rss_kib(k.pid)
                self.results[name]["rss_ready_kib"] = rss
                print(f"  {name:10s} pid {k.pid} VmRSS {rss/1024:.1f} MiB", flush=True)
            except KernelFailed as e:
                self.record_fail(name, e)
        self.live = [n for n in self.ok(self.kernels) if n in self.sessions]

    def start_floors(self, warm):
        """The floor servers, warmed up; a floor that cannot start is only reported."""
        floors = []
        if not self.live:
            return floors
        for floor_class in FLOORS:
            floor = None
            try:
                floor = floor_class(self.ctx)
                floor.round_trips(warm)
                floors.append(floor)
            except Exception as e:  # the floors are informative only
                print(f"  ({floor_class.name} unavailable: {e})", flush=True)
                if floor is not None:
                    floor.close()
        return floors

    def measure_round_trips(self):
        n, warm = self.prof["rtt"], self.prof["rtt_warmup"]
        print(f"\n[round trip]: execute 'pass' x {n} (+{warm} warm-up), blocks of {RTT_BLOCK}", flush=True)
        rtts = {k: [] for k in self.live}
        floors = self.start_floors(warm)
        floor_rtts = {floor.calibration_key: [] for floor in floors}
        floor_rows = {f"<{floor.name}>": floor for floor in floors}  # no kernelspec name has "<"
        for name in self.ok(self.live):
            try:
                metrics.round_trips(self.sessions[name], warm)
            except KernelFailed as e:
                self.record_fail(name, e)
        for b in range(math.ceil(n / RTT_BLOCK)):
            cnt = min(RTT_BLOCK, n - b * RTT_BLOCK)
            for name in rotated(self.ok(self.live) + list(floor_rows), b):
                if name in floor_rows:
                    floor = floor_rows[name]
                    try:
                        floor_rtts[floor.calibration_key].extend(floor.round_trips(cnt))
                    except Exception as e:  # drop the floor, not the run
                        print(f"  ({floor.name} dropped: {str(e).splitlines()[0]})", flush=True)
                        del floor_rows[name]
                        del floor_rtts[floor.calibration_key]
                    continue
                try:
                    rtts[name].extend(metrics.round_trips(self.sessions[name], cnt))
                except KernelFailed as e:
                    self.record_fail(name, e)
        for floor in floors:
            floor.close()
            if floor_rtts.get(floor.calibration_key):
                s = self.calibration[floor.calibration_key] = summarize(floor_rtts[floor.calibration_key])
                print(f"  {floor.label:10s} median {s['median']*1e6:8.1f} us  p99 {s['p99']*1e6:8.1f} us  "
                      f"({floor.role})", flush=True)
        for name in self.live:
            if name in self.failed or not rtts[name]:
                continue
            s = self.results[name]["rtt"] = summarize(rtts[name])
            print(f"  {name:10s} median {s['median']*1e6:8.1f} us  p99 {s['p99']*1e6:8.1f} us  "
                  f"min {s['min']*1e6:.1f}  max {s['max']*1e6:.1f}", flush=True)

    def measure_pipelined(self):
        K, reps = self.prof["pipe_k"], self.prof["pipe_reps"]
        print(f"\n[pipelined]: {K} execute 'pass' back to back, {reps} reps", flush=True)
        pipe = {k: [] for k in self.live}
        pipe_cpu = {k: [] for k in self.live}
        for rnd in range(reps):
            for name in rotated(self.ok(self.live), rnd):
                try:
                    rps, cpu = metrics.pipelined(self.sessions[name], K)
                    pipe[name].append(rps)
                    pipe_cpu[name].append(cpu)
                except KernelFailed as e:
                    self.record_fail(name, e)
        for name in self.ok(self.live):
            if pipe[name]:
                s = self.results[name]["pipelined_rps"] = summarize(pipe[name])
                self.results[name]["pipelined_client_cpu"] = max(pipe_cpu[name])
                print(f"  {name:10s} {s['median']:10.0f} req/s (min {s['min']:.0f}, max {s['max']:.0f}; "
                      f"client cpu up to {max(pipe_cpu[name])*100:.0f}%)", flush=True)

    def measure_print(self):
        reps = self.prof["print_reps"]
        print(f"\n[print] 100k lines, {reps} rep(s)", flush=True)
        prints = {k: [] for k in self.live}
        for rnd in range(reps):
            for name in rotated(self.ok(self.live), rnd):
                try:
                    r = metrics.print_lines(self.sessions[name])
                    prints[name].append(r)
                    print(f"  {name:10s} {r['seconds']:7.3f} s  {r['messages']:7d} msgs  {r['bytes']} B  "
                          f"{r['bytes_per_s']/1e6:7.2f} MB/s  complete={r['complete']}  "
                          f"client cpu {r['client_cpu']*100:.0f}%"
                          + (f"  PROBLEM: {r['problem']}" if r["problem"] else ""), flush=True)
                except KernelFailed as e:
                    self.record_fail(name, e)
        for name in self.ok(self.live):
            if prints[name]:
                rs = sorted(prints[name], key=lambda r: r["seconds"])
                med = rs[len(rs) // 2] if len(rs) % 2 else rs[len(rs) // 2 - 1]  # lower median run
                self.results[name]["print"] = dict(
                    seconds=statistics.median(r["seconds"] for r in rs),
                    bytes_per_s=statistics.median(r["bytes_per_s"] for r in rs),
                    messages=max(r["messages"] for r in rs),
                    bytes=med["bytes"],
                    complete=all(r["complete"] for r in rs),
                    problem=next((r["problem"] for r in rs if r["problem"]), None),
                    client_cpu_max=max(r["client_cpu"] for r in rs),
                    runs=prints[name])

    def measure_big_result(self):
        reps = self.prof["big_reps"]
        print(f"\n[10 MB result] execute_result, {reps} rep(s)", flush=True)
        bigs = {k: [] for k in self.live}
        for rnd in range(reps):
            for name in rotated(self.ok(self.live), rnd):
                try:
                    r = metrics.big_result(self.sessions[name])
                    bigs[name].append(r)
                    print(f"  {name:10s} {r['seconds']:7.3f} s  text/plain {r['text_plain_chars']} chars  "
                          f"ok={r['ok']}", flush=True)
                except KernelFailed as e:
                    self.record_fail(name, e)
        for name in self.ok(self.live):
            if bigs[name]:
                self.results[name]["big"] = dict(seconds=statistics.median(r["seconds"] for r in bigs[name]),
                                                 ok=all(r["ok"] for r in bigs[name]), runs=bigs[name])

    def measure_rss_after(self):
        print("\n[rss]  RSS after work", flush=True)
        for name in self.live:
            k = self.sessions[name]
            if k.alive():
                rss, hwm = rss_kib(k.pid)
                self.results[name]["rss_after_kib"] = rss
                self.results[name]["rss_peak_kib"] = hwm
                print(f"  {name:10s} VmRSS {rss/1024:.1f} MiB  VmHWM {hwm/1024:.1f} MiB", flush=True)


def run(args):
    """The whole run; the result dict (JSON-ready), or None if no kernel was found."""
    prof = dict(PROFILES["quick" if args.quick else "full"])
    for key in ("startup", "rtt", "pipe_k"):
        v = getattr(args, key, None)
        if v:
            prof[key] = v
    t_begin = time.monotonic()
    load0 = os.getloadavg()[0]
    if load0 > 0.5:
        print(f"note: load average {load0:.2f} at start; other work on this machine adds noise", flush=True)

    kernels, skipped = find_kernels([k.strip() for k in args.kernels.split(",") if k.strip()])
    if not kernels:
        print("no kernels to benchmark", file=sys.stderr)
        return None

    tmpdir = tempfile.mkdtemp(prefix="ensemble-bench-")
    env = dict(os.environ)
    env.setdefault("ENSEMBLE_HISTORY", os.path.join(tmpdir, "ensemble-history.sqlite"))
    env["IPYTHONDIR"] = os.path.join(tmpdir, "ipython")  # hermetic history/profile for ipykernel
    ctx = zmq.Context()
    bench = BenchRun(kernels, prof, ctx, tmpdir, env)
    try:
        bench.measure_startup()
        bench.start_long_lived()
        bench.measure_round_trips()
        bench.measure_pipelined()
        bench.measure_print()
        bench.measure_big_result()
        bench.measure_rss_after()
        for k in bench.sessions.values():
            k.stop(now=False)
    finally:
        cleanup_all()
        ctx.destroy(linger=0)
        if args.keep_tmp:
            print(f"temp dir kept: {tmpdir}")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)

    return dict(profile="quick" if args.quick else "full", params=prof, kernels=kernels,
                calibration=bench.calibration,
                skipped=skipped, failed=bench.failed, results=bench.results,
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

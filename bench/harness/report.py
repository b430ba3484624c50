"""The report: target checks and the markdown table with the round-trip floors under it."""


def value_at(results, name, path):
    """results[name][path[0]][path[1]]..., or None if any level is missing."""
    v = results.get(name, {})
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
    protocol_floor = out.get("calibration", {}).get("protocol_floor_rtt")
    s, x, i = subject, ref_x, ref_i
    checks = []

    def check(desc, ok_fn, *needed):
        vals = [value_at(res, n, p) for n, p in needed]
        if any(v is None for v in vals):
            miss = sorted({n for (n, p), v in zip(needed, vals) if v is None})
            checks.append(dict(target=desc, status="n/a", detail=f"no data for {', '.join(miss)}"))
            return
        passed, detail = ok_fn(*vals)
        checks.append(dict(target=desc, status="PASS" if passed else "FAIL", detail=detail))

    def round_trip(a, b):
        limit = b / 5
        detail = f"{a*1e6:.1f} us vs limit {limit*1e6:.1f} us ({x} {b*1e6:.1f} us)"
        if a > limit and protocol_floor and limit < protocol_floor["median"]:
            # no kernel could pass: the client alone needs longer to read the 4 messages
            detail += (f"; the limit is below what a kernel that does no work at all reaches with "
                       f"this client (protocol floor {protocol_floor['median']*1e6:.1f} us)")
        return a <= limit, detail

    check(f"round trip median <= 1/5 of {x}", round_trip,
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


def floor_lines(out, kernels):
    """The markdown paragraphs on the two round-trip floors (calibration), if measured."""
    lines = []
    calibration = out.get("calibration", {})
    echo = calibration.get("echo_rtt")
    if echo:
        lines.append(f"Client + transport floor: a libzmq echo (zmq.proxy in C, child process) answers the "
                     f"same execute_request in median {echo['median']*1e6:.1f} us, p99 {echo['p99']*1e6:.1f} us "
                     f"(interleaved with the kernels); every round trip above includes at least this much.\n")
    proto = calibration.get("protocol_floor_rtt")
    if proto:
        above = []
        for k in kernels:
            rtt = value_at(out["results"], k, ("rtt", "median"))
            if rtt is not None:
                above.append(f"`{k}` {(rtt - proto['median'])*1e6:+.1f} us")
        lines.append(f"Protocol floor: a fake kernel that does no work (one Python thread, child process) "
                     f"answers each execute_request at once with the four messages every kernel must send "
                     f"(iopub busy and execute_input, the execute_reply, iopub idle; static unsigned bytes) "
                     f"in median {proto['median']*1e6:.1f} us, p99 {proto['p99']*1e6:.1f} us, timed by the "
                     f"same client code, interleaved likewise: the cost of the client sending one request "
                     f"and reading four messages, which every round trip above pays."
                     + (f" Medians above it: {', '.join(above)}.\n" if above else "\n"))
    return lines


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
            v = value_at(res, k, path)
            if v is None:
                row.append("—")
            elif scale is None:
                row.append(fmt.format(v))
            else:
                row.append(fmt.format(v * scale))
        bv = value_at(res, base, path)
        for k in others:
            v = value_at(res, k, path)
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
    lines.extend(floor_lines(out, [base] + others))
    for k, why in out["skipped"].items():
        lines.append(f"- skipped `{k}`: {why}")
    for k, why in out["failed"].items():
        lines.append(f"- FAILED `{k}`: {why}")
    for k in kernels:
        pr = value_at(res, k, ("print", "problem"))
        if pr:
            lines.append(f"- `{k}` print 100k incomplete: {pr}")
        for what, path in (("print 100k", ("print", "client_cpu_max")),
                           ("pipelined", ("pipelined_client_cpu",))):
            cpu = value_at(res, k, path)
            if cpu is not None and cpu > 0.8:
                lines.append(f"- `{k}` {what}: client CPU {cpu*100:.0f}% of wall time (all client threads); "
                             f"the client may have limited this number")
    lines.append("")
    lines.append(f"### Targets for `{subject}`\n")
    for c in out["targets"]:
        lines.append(f"- **{c['status']}** {c['target']}: {c['detail']}")
    lines.append("")
    return "\n".join(lines)

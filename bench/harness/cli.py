"""Command line of bench/kernel_bench.py: options, signals, report and output files."""

import argparse
import atexit
import json
import signal
import sys

from .processes import cleanup_all
from .report import evaluate_targets, markdown
from .runner import run

DESCRIPTION = "Benchmark Jupyter kernels side by side: Ensemble against xeus-python and ipykernel."


def _on_sigterm(signum, frame):
    # unwinds like Ctrl-C, through run()'s `finally`, so every kernel gets killed
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=DESCRIPTION)
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
    return ap.parse_args(argv)


def main(argv=None):
    """Exit status: 0, 1 if a kernel failed, 2 if no kernel was found, 130 if interrupted."""
    args = parse_args(argv)
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

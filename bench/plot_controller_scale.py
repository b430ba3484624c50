#!/usr/bin/python3
"""Plots the controller scaling benchmark: controller CPU per task against the
number of engines (log x), one line per mode (load-balanced, direct).

usage: /usr/bin/python3 bench/plot_controller_scale.py [results.json] [out.png]
Defaults: bench/results/controller_scale.json -> docs/img/controller_scale.png
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: write the file only
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LABELS = {"load_balanced": "load-balanced (route t)", "direct": "direct (route e<N>)"}


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results", "controller_scale.json")
    target = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "img", "controller_scale.png")
    with open(source) as f:
        document = json.load(f)
    runs = [run for run in document["runs"] if run.get("status") == "ok"]
    failed = [run for run in document["runs"] if run.get("status") != "ok"]
    modes = sorted({mode for run in runs for mode in run.get("modes", {})})

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for mode in modes:
        points = sorted((run["engines"], run["modes"][mode]["controller_cpu_us_per_task"])
                        for run in runs if mode in run.get("modes", {}))
        ax.plot([n for n, _ in points], [us for _, us in points], marker="o", label=LABELS.get(mode, mode))
    for run in failed:
        ax.axvline(run["engines"], color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"N={run['engines']}: failed", (run["engines"], 0), xytext=(-4, 6),
                    textcoords="offset points", rotation=90, fontsize=8, color="grey", ha="right", va="bottom")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("engines")
    ax.set_ylabel("controller CPU per task (µs)")
    ax.set_title(f"ensemble controller: CPU per no-op task ({document.get('tasks')} tasks, "
                 f"{document.get('window')} in flight, {document.get('cpus')} CPUs)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    fig.savefig(target, dpi=120)
    print(target)


if __name__ == "__main__":
    main()

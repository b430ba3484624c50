"""Ensemble's load-balanced view against dask.distributed, side by side in one run (issue 6:
"Dask does 2-3k tasks/s ... we aim past all of them", until now a published figure).

For each engine/worker count: tasks/s of 10k pipelined no-op tasks (median of 3 loops), the
client's submit cost per task (wall and the submitting thread's CPU), the round trip of one
task, and a map over 2000 items. Dask runs a LocalCluster of worker processes with one thread
each, its scheduler in this process (dask's default), as Ensemble's engines run one task at a
time; both on 127.0.0.1.

    PYTHONPATH=build/python /usr/bin/python3 bench/dask_bench.py [--workers 2,8] [--quick]
        [--json out.json] [--markdown out.md]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time


def noop():
    return None


def identity(x):
    return x


def _loops(submit_all, gather, tasks, loops=3):
    """tasks/s and the submit cost (wall, CPU of this thread) per task, medians of `loops`."""
    rates, walls, cpus = [], [], []
    for _ in range(loops):
        start, cpu = time.perf_counter(), time.thread_time()
        handles = submit_all(tasks)
        walls.append((time.perf_counter() - start) / tasks * 1e6)
        cpus.append((time.thread_time() - cpu) / tasks * 1e6)
        gather(handles)
        rates.append(tasks / (time.perf_counter() - start))
    return statistics.median(rates), statistics.median(walls), statistics.median(cpus)


def _round_trip(call, samples):
    for _ in range(20):
        call()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _map_rate(run_map, items=2000, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run_map(items)
        times.append(time.perf_counter() - start)
        assert result[-1] == items - 1
    return items / statistics.median(times)


def measure_ensemble(n, tasks, samples):
    import ensemble as ipp

    with tempfile.TemporaryDirectory() as profile:
        cluster = ipp.Cluster(n=n, profile_dir=profile, cluster_id="dask-bench")
        rc = cluster.start_and_connect_sync()
        try:
            rc.wait_for_engines(n, timeout=120)
            view = rc.load_balanced_view()
            for r in [view.apply_async(noop) for _ in range(1000)]:  # warm, as dask's below
                r.get(timeout=300)

            def gather(ars):
                for r in ars:
                    r.get(timeout=300)

            rate, wall, cpu = _loops(lambda k: [view.apply_async(noop) for _ in range(k)], gather, tasks)
            return {"tasks_per_s": rate, "submit_us": wall, "submit_cpu_us": cpu,
                    "round_trip_us": _round_trip(lambda: view.apply_sync(noop), samples),
                    "map_items_per_s": _map_rate(lambda k: view.map_sync(identity, range(k)))}
        finally:
            rc.close()
            cluster.stop_cluster_sync()


def measure_dask(n, tasks, samples):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    client = Client(cluster)
    try:
        client.wait_for_workers(n)
        client.gather([client.submit(noop, pure=False) for _ in range(1000)])
        rate, wall, cpu = _loops(lambda k: [client.submit(noop, pure=False) for _ in range(k)],
                                 client.gather, tasks)
        return {"tasks_per_s": rate, "submit_us": wall, "submit_cpu_us": cpu,
                "round_trip_us": _round_trip(lambda: client.submit(noop, pure=False).result(), samples),
                "map_items_per_s": _map_rate(lambda k: client.gather(client.map(identity, range(k),
                                                                                 pure=False)))}
    finally:
        client.close()
        cluster.close()


ROWS = [
    ("tasks_per_s", "pipelined no-op tasks (tasks/s; median of 3 loops)", "higher"),
    ("submit_us", "client submit cost (µs/task, wall)", "lower"),
    ("submit_cpu_us", "the same, CPU of the submitting thread (µs/task)", "lower"),
    ("round_trip_us", "one task's round trip (µs)", "lower"),
    ("map_items_per_s", "map over 2000 items, one task each (items/s)", "higher"),
]


def markdown(results):
    out = []
    for n, row in results.items():
        out += ["", "%s workers" % n, "", "| metric | ensemble | dask | ratio (better = >1) |", "|---|---:|---:|---:|"]
        for key, label, better in ROWS:
            ours, theirs = row["ensemble"][key], row["dask"][key]
            ratio = ours / theirs if better == "higher" else theirs / ours
            out.append("| %s | %.3g | %.3g | %.1f× |" % (label, ours, theirs, ratio))
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="2,8")
    parser.add_argument("--quick", action="store_true", help="2000 tasks a loop, fewer round trips")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    tasks, samples = (2000, 200) if args.quick else (10000, 1000)
    results = {}
    for i, n in enumerate(int(w) for w in args.workers.split(",")):
        # alternate which goes first, so that neither always meets a cold machine
        order = [("ensemble", measure_ensemble), ("dask", measure_dask)][:: -1 if i % 2 else 1]
        results[n] = {name: measure(n, tasks, samples) for name, measure in order}
        print(json.dumps({n: results[n]}), file=sys.stderr, flush=True)
    text = markdown(results)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

"""A Cluster's file as ipyparallel's Cluster keeps it: ``write_cluster_file``,
``remove_cluster_file`` and ``update_cluster_file``. ``ensemble cluster`` writes the same
file (the processes' pids and connection files); what these write goes beside that. A file
ipyparallel wrote is read too (from_ipyparallel_layout)."""

import json
import os


class ClusterFileMixin:
    def write_cluster_file(self):
        """Saves to_dict() in the cluster file, beside what ``ensemble cluster`` keeps there."""
        try:
            with open(self.cluster_file) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            saved = {}
        os.makedirs(os.path.dirname(self.cluster_file), exist_ok=True)
        with open(self.cluster_file, "w") as f:
            json.dump(dict(saved, **self.to_dict()), f)

    def remove_cluster_file(self):
        try:
            os.remove(self.cluster_file)
        except FileNotFoundError:
            pass

    def update_cluster_file(self):
        """write_cluster_file() while anything runs, else remove_cluster_file()."""
        if self.controller or self.engines:
            self.write_cluster_file()
        else:
            self.remove_cluster_file()


def written_by_ipyparallel(d):
    """Whether ``d`` is ipyparallel's to_dict() (its cluster files): each part names its class.
    Both write ``cluster-ID.json`` in the same profiles, so ClusterManager finds both."""
    cluster = d.get("cluster")
    return isinstance(cluster, dict) and "class" in cluster


def from_ipyparallel_layout(d):
    """ipyparallel's to_dict() in ours: the cluster's fields that ours has, the controller's
    pid, and each engine set's engine pids."""
    cluster = d["cluster"]
    info = {key: cluster[key] for key in ("cluster_id", "profile_dir", "controller_ip", "n", "engine_timeout")
            if key in cluster}
    state = (d.get("controller") or {}).get("state") or {}
    engines = {}
    for name, engine_set in ((d.get("engines") or {}).get("sets") or {}).items():
        pids = [engine.get("pid") for engine in (engine_set.get("engines") or {}).values()
                if isinstance(engine.get("pid"), int) and engine["pid"] > 0]
        engines[name] = {"n": engine_set.get("n", len(pids)), "pids": pids}
    return {"cluster": info, "controller": {"pid": state["pid"]} if state.get("pid") else None, "engines": engines}

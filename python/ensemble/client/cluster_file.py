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


def in_launcher_layout(d):
    """Whether ``d`` is to_dict()'s layout, ipyparallel's and Ensemble's alike: the cluster's
    fields and class under ``cluster``, ``controller`` as ``{class, state}``, ``engines`` as
    ``{class, sets}``. Both write ``cluster-ID.json`` in the same profiles, so ClusterManager
    finds both."""
    cluster = d.get("cluster")
    return isinstance(cluster, dict) and "class" in cluster


# the Cluster fields both have (ipyparallel's to_dict() saves more, which Ensemble has no use for)
_CLUSTER_FIELDS = ("cluster_id", "profile_dir", "controller_ip", "n", "engine_timeout",
                   "engine_launcher_class", "controller_launcher_class")


def from_launcher_layout(d):
    """A to_dict() (ours or ipyparallel's) as Cluster.from_dict takes it apart: the cluster's
    fields, the controller launcher's fields, and each engine set's, with its engines' pids
    (ipyparallel keeps those only per engine, under ``engines``)."""
    cluster = d["cluster"]
    info = {key: cluster[key] for key in _CLUSTER_FIELDS if key in cluster}
    engines = d.get("engines") or {}
    if "engine_launcher_class" not in info and engines.get("class"):
        info["engine_launcher_class"] = engines["class"]
    state = (d.get("controller") or {}).get("state") or {}
    sets = {}
    for name, engine_set in (engines.get("sets") or {}).items():
        fields = {key: value for key, value in engine_set.items() if key != "engines"}
        if "pids" not in fields:
            fields["pids"] = [engine.get("pid") for engine in (engine_set.get("engines") or {}).values()
                              if isinstance(engine.get("pid"), int) and engine["pid"] > 0]
        fields.setdefault("n", len(fields["pids"]))
        sets[name] = fields
    return {"cluster": info, "controller": dict(state) if state.get("pid") else None, "engines": sets}

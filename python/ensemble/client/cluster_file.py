"""A Cluster's file as ipyparallel's Cluster keeps it: ``write_cluster_file``,
``remove_cluster_file`` and ``update_cluster_file``. ``ensemble cluster`` writes the same
file (the processes' pids and connection files); what these write goes beside that. The
to_dict() layout, ipyparallel's, is made and read here (to_launcher_layout,
from_launcher_layout), so a file ipyparallel wrote is read too."""

import json
import os

from .launchers import abbreviate_launcher_class


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


def to_launcher_layout(cluster):
    """``cluster`` laid out as ipyparallel's to_dict() lays one out: ``cluster`` (its fields
    and ``class``), ``controller`` (``class``, and ``state``: its pid and connection files)
    while it runs, ``engines`` (``class``, and ``sets``: each engine set's ``n``, ``pids``
    and, as ipyparallel has them, ``engines`` by index)."""
    cls = type(cluster)
    d = {"cluster": {"cluster_id": cluster.cluster_id, "profile_dir": cluster.profile_dir,
                     "controller_ip": cluster.controller_ip, "n": cluster.n,
                     "engine_launcher_class": cluster.engine_launcher_class.__name__,
                     "controller_launcher_class": cluster.controller_launcher_class.__name__,
                     "class": "%s.%s" % (cls.__module__, cls.__qualname__)}}
    if cluster.controller:
        d["controller"] = {"class": abbreviate_launcher_class(cluster.controller_launcher_class),
                           "state": dict(cluster.controller)}
    d["engines"] = {"class": abbreviate_launcher_class(cluster.engine_launcher_class),
                    "sets": {name: dict(engine_set, engines={str(i): {"pid": pid} for i, pid
                                                             in enumerate(engine_set.pids)})
                             for name, engine_set in cluster.engines.items()}}
    return d


def in_launcher_layout(d):
    """Whether ``d`` is to_dict()'s layout (to_launcher_layout), ipyparallel's and Ensemble's
    alike. ipyparallel writes it in its ``cluster-ID.json``, in the profiles where Ensemble
    writes its own (flat) one, so ClusterManager finds both."""
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

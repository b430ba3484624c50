"""A Cluster's file as ipyparallel's Cluster keeps it: ``write_cluster_file``,
``remove_cluster_file`` and ``update_cluster_file``. ``ensemble cluster`` writes the same
file (the processes' pids and connection files); what these write goes beside that."""

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

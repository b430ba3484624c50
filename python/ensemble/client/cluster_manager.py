"""ClusterManager: the clusters of this machine's IPython profiles, by key, as ipyparallel's
ClusterManager lists them (``ipp.ClusterManager().load_clusters()``)."""

import glob
import logging
import os

from . import files
from .cluster import Cluster
from .processes import ours as _ours


def abbreviate_profile_dir(profile_dir):
    """A profile directory as a key names it: ``NAME`` for IPYTHONDIR's ``profile_NAME``, else
    the path."""
    profile_dir = os.path.abspath(profile_dir)
    parent, name = os.path.split(profile_dir)
    if parent == os.path.abspath(files.ipython_dir()) and name.startswith("profile_"):
        return name[len("profile_"):]
    return profile_dir


def all_profile_dirs():
    """Every profile directory in IPYTHONDIR."""
    return sorted(glob.glob(os.path.join(files.ipython_dir(), "profile_*")))


def _is_running(cluster):
    pid = (cluster.controller or {}).get("pid")
    return bool(pid) and _ours(pid)


class ClusterManager:
    """Clusters by key (``PROFILE:CLUSTER_ID``): the ones made here with ``new_cluster`` and the
    running ones found on disk by ``load_clusters``. Not thread safe."""

    def __init__(self, log=None, **ignored):
        self.log = log or logging.getLogger(__name__)
        self.clusters = {}

    @staticmethod
    def _cluster_key(cluster):
        return "%s:%s" % (abbreviate_profile_dir(cluster.profile_dir), cluster.cluster_id)

    @staticmethod
    def _cluster_files_in_profile_dir(profile_dir):
        security = os.path.join(profile_dir, "security")
        return sorted(glob.glob(os.path.join(security, "cluster.json"))
                      + glob.glob(os.path.join(security, "cluster-*.json")))

    def load_clusters(self, *, profile_dirs=None, profile_dir=None, profiles=None, profile=None,
                      init_default_clusters=False, **ignored):
        """Adds the clusters whose files are in the given profile directories (by priority:
        ``profile_dirs``, ``profile_dir``, ``profiles``, ``profile``; default: every IPython
        profile), drops the ones here that have stopped, and returns ``clusters``. With
        ``init_default_clusters``, a profile without a running cluster gets a stopped
        ``Cluster(cluster_id="")``."""
        for key, cluster in list(self.clusters.items()):
            # a cluster made here and never started stays; one that ran and stopped goes
            if cluster.controller and not _is_running(cluster):
                self.log.info("Removing stopped cluster %s", key)
                del self.clusters[key]
        if profile_dirs is None:
            if profile_dir is not None:
                profile_dirs = [profile_dir]
            elif profiles is not None or profile is not None:
                profile_dirs = [files.profile_dir(name) for name in (profiles or [profile])]
            else:
                profile_dirs = all_profile_dirs()
        known = {os.path.abspath(c.cluster_file) for c in self.clusters.values()}
        for directory in profile_dirs:
            cluster_files = self._cluster_files_in_profile_dir(directory)
            if init_default_clusters and not cluster_files:
                cluster = Cluster(profile_dir=directory, cluster_id="")
                self.clusters.setdefault(self._cluster_key(cluster), cluster)
            for cluster_file in cluster_files:
                if os.path.abspath(cluster_file) in known:
                    continue
                try:
                    cluster = Cluster.from_file(cluster_file, profile_dir=directory,
                                                shutdown_atexit=False)
                except Exception as exc:  # a file being written, or not one of ours
                    self.log.warning("Failed to load cluster from %s: %s", cluster_file, exc)
                    continue
                if not _is_running(cluster):
                    continue  # a file a killed cluster left behind
                self.clusters[self._cluster_key(cluster)] = cluster
        return self.clusters

    def new_cluster(self, **kwargs):
        """A new (not started) Cluster, kept under its key; KeyError if the key is taken."""
        cluster = Cluster(**kwargs)
        key = self._cluster_key(cluster)
        if key in self.clusters:
            raise KeyError("Cluster %s already exists!" % key)
        self.clusters[key] = cluster
        return key, cluster

    def get_cluster(self, cluster_id):
        return self.clusters[cluster_id]

    def remove_cluster(self, cluster_id):
        del self.clusters[cluster_id]

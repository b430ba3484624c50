"""``ensemble.cluster``, where ipyparallel users find ``ipyparallel.cluster``'s names."""

from ..client.cluster import Cluster
from ..client.cluster_manager import ClusterManager, abbreviate_profile_dir

from . import launcher

__all__ = ["Cluster", "ClusterManager", "abbreviate_profile_dir", "launcher"]

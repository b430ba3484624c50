"""A joblib parallel backend on a LoadBalancedView (needs Debian's python3-joblib).

``view.register_joblib_backend('name')`` runs ``Parallel(backend='name')`` on that view;
``ipp.register_joblib_backend()`` registers ``'ipyparallel'`` (and ``'ensemble'``), which connects to the default
cluster of the default profile (starting one if there is none) the first time joblib uses it.
"""

from joblib.parallel import AutoBatchingMixin, ParallelBackendBase, register_parallel_backend


class EnsembleBackend(AutoBatchingMixin, ParallelBackendBase):
    """Each joblib batch is one load-balanced task. Without a view it makes (and on
    ``terminate`` closes) a client of its own, and stops the cluster only if it started it."""

    def __init__(self, view=None, **kwargs):
        super().__init__(**kwargs)
        self._client_owner = view is None
        self._cluster = None
        self._view = view if view is not None else self._default_view()

    def _default_view(self):
        from .cluster import Cluster

        try:
            cluster = Cluster.from_file()
        except FileNotFoundError:
            cluster = self._cluster = Cluster()
            cluster.start_cluster_sync()
        else:
            if not cluster.engines:
                cluster.start_engines_sync()
        client = cluster.connect_client_sync()
        client.wait_for_engines(cluster.n or 1)
        return client.load_balanced_view()

    def effective_n_jobs(self, n_jobs):
        """A view runs as many batches at once as it has engines."""
        return len(self._view)

    def apply_async(self, func, callback=None):
        result = self._view.apply_async(func)
        if callback is not None:
            result.add_done_callback(lambda future: callback(future.result()))
        return result

    def terminate(self):
        if self._client_owner:
            self._view.client.close()
        if self._cluster is not None:
            self._cluster.stop_cluster_sync()
            self._cluster = None


def register(name="ipyparallel", make_default=False, view=None):
    """Registers ``name`` with joblib: a backend on ``view``, or on the default cluster.
    The default name, ipyparallel's, also registers ``"ensemble"``, this package's; with
    ``make_default``, joblib's default is then named ``"ipyparallel"``, as code written for
    ipyparallel expects (registered last, so it is the one that stays the default)."""
    for each in ("ensemble", name) if name == "ipyparallel" else (name,):
        register_parallel_backend(each, lambda **kwargs: EnsembleBackend(view=view, **kwargs),
                                  make_default=make_default)

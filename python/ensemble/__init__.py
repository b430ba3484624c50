"""Ensemble: Jupyter kernels, collaboration and parallel computing.

The kernel's own Python helpers live in ``ensemble._kernel`` and the engine's
in ``ensemble._engine``; importing this package stays cheap so that a kernel
starts fast. The parallel client API (``import ensemble as ipp``, compatible
with ipyparallel) is imported on first use of one of its names.
"""

__version__ = "0.1.0"
version_info = (0, 1, 0)

# name -> module (relative to this package) that defines it
_LAZY = {
    "Client": "client.client",
    "Cluster": "client.cluster",
    "ClusterManager": "client.cluster_manager",
    "View": "client.view",
    "DirectView": "client.view",
    "BroadcastView": "client.view",
    "LoadBalancedView": "client.lbview",
    "ViewExecutor": "client.executor",
    "AsyncResult": "client.asyncresult",
    "AsyncMapResult": "client.asyncresult",
    "AsyncHubResult": "client.hubresult",
    "RemoteFunction": "client.remotefunction",
    "ParallelFunction": "client.remotefunction",
    "remote": "client.remotefunction",
    "parallel": "client.remotefunction",
    "require": "client.dependency",
    "depend": "client.dependency",
    "dependent": "client.dependency",
    "Dependency": "client.dependency",
    "interactive": "client.util",
    "Reference": "serialize",
    "PrePickled": "serialize",
    "serialize_object": "serialize",
    "deserialize_object": "serialize",
    "pack_apply_message": "serialize",
    "unpack_apply_message": "serialize",
    "can": "serialize",
    "uncan": "serialize",
    "use_cloudpickle": "serialize",
    "use_pickle": "serialize",
    "use_dill": "serialize",
}
_LAZY.update({name: "error" for name in (
    "IPythonError", "KernelError", "EngineError", "NoEnginesRegistered", "TaskAborted",
    "TaskTimeout", "TimeoutError", "UnmetDependency", "ImpossibleDependency",
    "DependencyTimeout", "InvalidDependency", "RemoteError", "TaskRejectError",
    "CompositeError", "collect_exceptions", "wrap_exception", "unwrap_exception")})

_SUBMODULES = {"error", "serialize", "client", "util", "datapub", "cluster"}


def __getattr__(name):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    imported = importlib.import_module("." + module, __name__)
    value = getattr(imported, "_EXPORTED", {}).get(name) or getattr(imported, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


def bind_kernel(**kwargs):
    """Does nothing: every Ensemble engine already is a full kernel that a
    console can attach to (``ensemble console --engine N``)."""


def register_joblib_backend(name="ipyparallel", make_default=False):
    """Makes ``joblib.Parallel(backend=name)`` run on the default profile's default cluster
    (one is started if none runs) through a LoadBalancedView. Needs joblib."""
    from .client.joblib_backend import register

    return register(name=name, make_default=make_default)


__all__ = sorted(set(_LAZY) | {"bind_kernel", "register_joblib_backend", "__version__"})

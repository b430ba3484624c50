"""ipyparallel's path to its joblib backend (``from ipyparallel.client._joblib import
IPythonParallelBackend``), for code that imports it from there."""

from .joblib_backend import EnsembleBackend as IPythonParallelBackend  # noqa: F401

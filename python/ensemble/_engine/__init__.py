"""Engine side of the parallel API: what the C++ engine calls for
``apply_request`` (``ensemble._engine.apply.run``) and the small helpers that
clients apply to implement push, pull and clear (``ensemble._engine.namespace``).

Importing this package is cheap; the client API is never imported here.
"""

import importlib.abc
import importlib.util
import sys


class _DatapubAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Engine code written for ipyparallel publishes with ``from
    ipyparallel.datapub import publish_data``; ipyparallel's own version needs
    its ipykernel shell. On an Ensemble engine that one module is
    ``ensemble.datapub`` (the rest of ipyparallel, if installed, is untouched)."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "ipyparallel.datapub":
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return importlib.import_module("ensemble.datapub")

    def exec_module(self, module):
        pass


if not any(isinstance(finder, _DatapubAlias) for finder in sys.meta_path):
    sys.meta_path.insert(0, _DatapubAlias())

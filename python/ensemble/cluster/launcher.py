"""``ensemble.cluster.launcher``, where code written for ipyparallel finds
``ipyparallel.cluster.launcher``'s names (see ``ensemble.client.launchers``)."""

from ..client.launchers import (LocalControllerLauncher, LocalEngineSetLauncher,
                                abbreviate_launcher_class, find_launcher_class)

__all__ = ["LocalControllerLauncher", "LocalEngineSetLauncher", "abbreviate_launcher_class",
           "find_launcher_class"]

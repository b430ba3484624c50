"""``ensemble.cluster.launcher``, where code written for ipyparallel finds
``ipyparallel.cluster.launcher``'s names (see ``ensemble.client.launchers``)."""

from ..client.launchers import (LocalControllerLauncher, LocalEngineSetLauncher, MPIEngineSetLauncher,
                                abbreviate_launcher_class, find_launcher_class)

MPIExecEngineSetLauncher = MPIEngineSetLauncher  # ipyparallel's older name

__all__ = ["LocalControllerLauncher", "LocalEngineSetLauncher", "MPIEngineSetLauncher",
           "MPIExecEngineSetLauncher", "abbreviate_launcher_class", "find_launcher_class"]

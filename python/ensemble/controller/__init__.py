"""``python -m ensemble.controller``: ipyparallel's ``ipcontroller`` command line for an Ensemble
controller (``ensemble.cluster.programs``). The controller is the ``ensemble controller`` program."""

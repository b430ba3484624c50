"""``python -m ensemble.engine``: ipyparallel's ``ipengine`` command line for an Ensemble engine
(``ensemble.cluster.programs``). The engine itself is the ``ensemble engine`` program."""

"""Cluster.to_dict()/from_dict() in ipyparallel's layout: what `ipcluster list -o json` prints
and what scripts walk (cluster, controller {class, state}, engines {class, sets})."""

import os

import ensemble as ipp
from ensemble.client.launchers import LocalEngineSetLauncher, MPIEngineSetLauncher


def _running_cluster(tmp_path, **kwargs):
    c = ipp.Cluster(profile_dir=str(tmp_path), cluster_id="laid-out", n=3, **kwargs)
    c.controller = c._controller_launcher({"pid": os.getpid(), "client_file": "client.json",
                                           "engine_file": "engine.json"})
    c.engines = {"0": c._engine_set_launcher({"n": 2, "pids": [101, 102]}),
                 "1": c._engine_set_launcher({"n": 1, "pids": [103]})}
    return c


def test_to_dict_lays_the_cluster_out_as_ipyparallel_does(tmp_path):
    d = _running_cluster(tmp_path).to_dict()
    assert d["cluster"]["class"] == "ensemble.client.cluster.Cluster"
    assert d["cluster"]["cluster_id"] == "laid-out" and d["cluster"]["n"] == 3
    assert d["controller"] == {"class": "Local", "state": {"pid": os.getpid(), "client_file": "client.json",
                                                           "engine_file": "engine.json"}}
    assert d["engines"]["class"] == "Local"
    assert d["engines"]["sets"]["0"]["engines"] == {"0": {"pid": 101}, "1": {"pid": 102}}
    assert d["engines"]["sets"]["1"]["n"] == 1 and d["engines"]["sets"]["1"]["pids"] == [103]


def test_to_dict_of_a_stopped_cluster_has_no_controller_and_no_engine_sets(tmp_path):
    d = ipp.Cluster(profile_dir=str(tmp_path), cluster_id="idle").to_dict()
    assert "controller" not in d and d["engines"]["sets"] == {}


def test_from_dict_of_to_dict_has_the_same_processes_and_launchers(tmp_path):
    c = _running_cluster(tmp_path, engine_launcher_class="MPI")
    copy = ipp.Cluster.from_dict(c.to_dict())
    assert copy.cluster_id == "laid-out" and copy.n == 3 and copy.profile_dir == c.profile_dir
    assert copy.controller.pid == os.getpid()
    assert {name: (s.n, s.pids) for name, s in copy.engines.items()} == {"0": (2, [101, 102]), "1": (1, [103])}
    assert copy.engine_launcher_class is MPIEngineSetLauncher
    assert isinstance(copy.engines["0"], MPIEngineSetLauncher)


def test_a_dict_ipyparallel_wrote_gives_its_controller_and_engine_pids(tmp_path):
    # as ipyparallel 7.1's Cluster.to_dict() writes it in cluster-ID.json
    written = {
        "cluster": {"cluster_id": "theirs", "profile_dir": str(tmp_path), "controller_args": [],
                    "controller_ip": "", "controller_location": "", "delay": 1.0, "n": 2,
                    "class": "ipyparallel.cluster.cluster.Cluster"},
        "controller": {"class": "local", "state": {"profile_dir": str(tmp_path), "cluster_id": "theirs",
                                                   "state": "running", "pid": 4242, "output_file": "c.log"}},
        "engines": {"class": "local", "sets": {"1700000000-abcd": {
            "profile_dir": str(tmp_path), "cluster_id": "theirs", "state": "running", "n": 2,
            "engines": {"0": {"pid": 5001, "state": "running"}, "1": {"pid": 5002, "state": "running"}}}}},
    }
    c = ipp.Cluster.from_dict(written)
    assert c.cluster_id == "theirs" and c.n == 2 and not c.shutdown_atexit
    assert c.controller.pid == 4242
    assert c.engine_launcher_class is LocalEngineSetLauncher
    [(name, engine_set)] = c.engines.items()
    assert name == "1700000000-abcd" and engine_set.n == 2 and engine_set.pids == [5001, 5002]

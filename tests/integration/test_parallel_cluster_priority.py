"""How far a local cluster stands back from its user's session when both want the CPUs
(``ensemble cluster start --nice``, ``Cluster(nice=...)``, ``ENSEMBLE_CLUSTER_NICE``):
the session's autogroup and each daemon run at that nice value."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import ensemble as ipp
from ensemble.client import files
from parallel_fixtures import cluster_info, cluster_pids, kill_left_over, own_cluster  # noqa: F401 (a fixture)

pytestmark = pytest.mark.ensemble_only

HAS_AUTOGROUPS = os.path.exists("/proc/self/autogroup")


def _autogroup_nice(pid):
    """The nice of pid's autogroup, or None for the kernel's default group (an empty file:
    a session started before autogroups were on, as a container's first process may be)."""
    with open("/proc/%d/autogroup" % pid) as f:  # "/autogroup-123 nice 5"
        fields = f.read().split()
    return int(fields[-1]) if fields else None


def _expected_priority(nice):
    # a cluster never runs above its user: started from a nicer process, it keeps that
    return max(nice, os.getpriority(os.PRIO_PROCESS, 0))


def _assert_standing_back(pids, nice):
    for pid in pids:
        assert os.getpriority(os.PRIO_PROCESS, pid) == _expected_priority(nice), pid
        if HAS_AUTOGROUPS:
            assert _autogroup_nice(pid) == nice, pid


DEFAULT_NICE = 3  # cli/cluster_priority.hpp: a third of the user's weight on a CPU both want


@pytest.mark.deadline(60)
def test_a_cluster_stands_back_from_its_users_session_at_nice_3_by_default(own_cluster, monkeypatch):
    monkeypatch.delenv("ENSEMBLE_CLUSTER_NICE", raising=False)
    users = _autogroup_nice(os.getpid()) if HAS_AUTOGROUPS else None
    c = own_cluster(n=1)
    c.cluster.start_cluster_sync()
    assert cluster_info(c.profile_dir, c.cluster_id)["nice"] == DEFAULT_NICE
    _assert_standing_back(c.remember_pids(), DEFAULT_NICE)
    if HAS_AUTOGROUPS:
        assert _autogroup_nice(os.getpid()) == users, "the user's own session is left as it was"
    c.cluster.stop_cluster_sync()


@pytest.mark.deadline(60)
def test_a_cluster_at_nice_0_runs_at_its_users_priority(own_cluster, monkeypatch):
    monkeypatch.delenv("ENSEMBLE_CLUSTER_NICE", raising=False)
    c = own_cluster(n=1)
    c.cluster.nice = 0  # as ipp.Cluster(nice=0): as ipyparallel runs
    c.cluster.start_cluster_sync()
    assert cluster_info(c.profile_dir, c.cluster_id)["nice"] == 0
    for pid in c.remember_pids():
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0)
        if HAS_AUTOGROUPS:
            assert _autogroup_nice(pid) == 0
    c.cluster.stop_cluster_sync()


@pytest.mark.deadline(90)
def test_a_cluster_at_nice_5_and_engines_added_later_stand_back_from_the_users_session(own_cluster, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CLUSTER_NICE", "9")  # the keyword wins over the environment
    users = _autogroup_nice(os.getpid()) if HAS_AUTOGROUPS else None
    c = own_cluster(n=1)
    c.cluster.nice = 5  # as ipp.Cluster(nice=5)
    c.cluster.start_cluster_sync()
    first = set(c.remember_pids())
    assert cluster_info(c.profile_dir, c.cluster_id)["nice"] == 5
    _assert_standing_back(first, 5)
    monkeypatch.delenv("ENSEMBLE_CLUSTER_NICE")
    c.cluster.start_engines_sync(1)  # `ensemble cluster engines`: a session of their own, as the cluster's
    added = set(c.remember_pids()) - first
    assert len(added) == 1
    _assert_standing_back(added, 5)
    if HAS_AUTOGROUPS:
        assert _autogroup_nice(os.getpid()) == users, "the user's own session is left as it was"
    c.cluster.stop_cluster_sync()


@pytest.mark.deadline(90)
def test_engines_added_to_a_cluster_from_before_the_nice_option_run_as_that_cluster_did(own_cluster, monkeypatch):
    # a cluster file without "nice" was written by a cluster that ran at the user's priority
    monkeypatch.delenv("ENSEMBLE_CLUSTER_NICE", raising=False)
    c = own_cluster(n=1)
    c.cluster.nice = 0
    c.cluster.start_cluster_sync()
    first = set(c.remember_pids())
    path = Path(c.profile_dir) / "security" / ("cluster-%s.json" % c.cluster_id)
    info = json.loads(path.read_text())
    del info["nice"]
    path.write_text(json.dumps(info))
    c.cluster.start_engines_sync(1)
    added = set(c.remember_pids()) - first
    assert len(added) == 1
    _assert_standing_back(added, 0)
    c.cluster.stop_cluster_sync()


@pytest.mark.deadline(60)
def test_ensemble_cluster_nice_in_the_environment_sets_the_default(own_cluster, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CLUSTER_NICE", "7")
    c = own_cluster(n=1)
    c.cluster.start_cluster_sync()
    _assert_standing_back(c.remember_pids(), 7)
    c.cluster.stop_cluster_sync()


@pytest.mark.deadline(60)
def test_a_bad_ensemble_cluster_nice_is_reported_and_the_default_used(tmp_path):
    # "-3" would be more than the user's priority: refused, as anything not 0 to 19, and the
    # default used
    profile = str(tmp_path / "profile")
    cli = [files.ensemble_executable(), "cluster"]
    where = ["--profile-dir", profile, "--cluster-id", "bad"]
    env = dict(os.environ, ENSEMBLE_CLUSTER_NICE="-3")
    started = subprocess.run(cli + ["start", "-n", "1", "--daemonize"] + where, env=env, capture_output=True,
                             text=True, timeout=40)
    pids = []
    try:
        assert started.returncode == 0, started.stderr
        assert "ignoring ENSEMBLE_CLUSTER_NICE=-3" in started.stderr
        info = cluster_info(profile, "bad")
        pids = cluster_pids(info)
        assert info["nice"] == DEFAULT_NICE
    finally:
        subprocess.run(cli + ["stop"] + where, capture_output=True, timeout=40)
        kill_left_over(pids)


def test_a_nice_value_outside_0_to_19_is_refused_before_anything_starts(tmp_path):
    cluster = ipp.Cluster(n=1, profile_dir=str(tmp_path / "profile"), cluster_id="refused", nice=20)
    # checked by `ensemble cluster start` before it starts anything
    with pytest.raises(RuntimeError, match="nice"):
        cluster.start_cluster_sync()
    assert not os.path.exists(cluster.cluster_file)

"""Fixtures for the parallel API tests: real clusters (a controller and engines started by
``ensemble cluster start``) in private profile directories, driven through ``import ensemble as
ipp``. Import the fixtures you use into the test module:

    from parallel_fixtures import cluster, rc, ...  # noqa: F401
"""

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from cluster_util import running, wait_until
from conftest import ENSEMBLE_BIN

os.environ.setdefault("ENSEMBLE_BIN", str(ENSEMBLE_BIN))  # where ipp.Cluster finds the program


def cluster_info(profile_dir, cluster_id):
    """The ``cluster[-ID].json`` that ``ensemble cluster start`` wrote."""
    path = Path(profile_dir) / "security" / ("cluster-%s.json" % cluster_id)
    return json.loads(path.read_text())


def cluster_pids(info):
    return [info["controller_pid"], *info["engine_pids"]]


def left_running(pids):
    """The pids of ``pids`` still running after up to 5 s."""
    wait_until(lambda: not any(running(p) for p in pids), 5, 0.05)
    return [p for p in pids if running(p)]


def kill_left_over(pids):
    for pid in pids:
        if running(pid):
            os.kill(pid, signal.SIGKILL)


class StartedCluster:
    """An ``ipp.Cluster`` started in its own profile directory, with its pids remembered so that
    whatever a failed stop leaves behind is killed (by pid) at teardown."""

    def __init__(self, workdir, n, cluster_id=None):
        import ensemble as ipp

        self.profile_dir = str(workdir / "profile")
        self.cluster_id = cluster_id or "t" + uuid.uuid4().hex[:8]
        self.cluster = ipp.Cluster(n=n, profile_dir=self.profile_dir, cluster_id=self.cluster_id,
                                   engine_timeout=30)
        self.pids = []
        self.client = None

    @property
    def client_file(self):
        return os.path.join(self.profile_dir, "security", "ipcontroller-%s-client.json" % self.cluster_id)

    def remember_pids(self):
        self.pids = cluster_pids(cluster_info(self.profile_dir, self.cluster_id))
        return self.pids

    def start_and_connect(self):
        self.client = self.cluster.start_and_connect_sync()
        self.remember_pids()
        return self.client

    def stop(self):
        if self.client is not None:
            self.client.close()
        try:
            self.cluster.stop_cluster_sync()
        finally:
            kill_left_over(self.pids)


@pytest.fixture(scope="module")
def started(tmp_path_factory, kernel_target):
    """One two-engine cluster for a whole test module (tests must not depend on one another's
    namespace, or clear what they rely on)."""
    c = StartedCluster(tmp_path_factory.mktemp("cluster"), n=2)
    c.start_and_connect()
    yield c
    c.stop()
    assert not left_running(c.pids), "the module's cluster left processes behind"


@pytest.fixture
def rc(started):
    """The module cluster's Client, with both engines registered."""
    started.client.wait_for_engines(2, timeout=20)
    return started.client


@pytest.fixture
def dv(rc):
    """A fresh blocking-by-default-off DirectView on every engine."""
    view = rc[:]
    view.block = False
    return view


@pytest.fixture
def own_cluster(tmp_path, kernel_target):
    """Factory of clusters private to one test (stopped and checked at teardown)."""
    made = []

    def make(n=1, cluster_id=None):
        c = StartedCluster(tmp_path / ("c%d" % len(made)), n=n, cluster_id=cluster_id)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.stop()
        except Exception:
            pass
        kill_left_over(c.pids)


def timed(f):
    """Returns (seconds, value) of calling f()."""
    start = time.monotonic()
    value = f()
    return time.monotonic() - start, value

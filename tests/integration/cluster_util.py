"""Local clusters for tests: `ensemble cluster start` in a private profile directory, and a
thin client over `ensemble._core` that speaks docs/parallel-protocol.md directly."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ENSEMBLE_BIN

EXECUTE = dict(silent=False, store_history=True, user_expressions={}, allow_stdin=False, stop_on_error=True)


def raw_dealer(port: int, routing_id: bytes = b""):
    """A plain ZeroMQ DEALER on 127.0.0.1:``port``, for sending a controller what no client
    of ours would; it delivers everything it was given before it closes (linger 2 s)."""
    import zmq

    s = zmq.Context.instance().socket(zmq.DEALER)
    s.linger = 2000
    if routing_id:
        s.routing_id = routing_id
    s.connect("tcp://127.0.0.1:%d" % port)
    return s


def running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.fixture
def cluster(tmp_path):
    """A factory of LocalClusters private to one test, stopped at its end:
    ``cluster(n=2, **LocalCluster's keyword arguments)``."""
    made = []

    def _make(n=2, **kwargs):
        c = LocalCluster(tmp_path / ("c%d" % len(made)), n, **kwargs)
        made.append(c)
        return c

    yield _make
    for c in made:
        c.stop()


class LocalCluster:
    def __init__(self, workdir: Path, n: int, cluster_id="t", heartbeat_ms=100, env=None, extra=()):
        self.profile_dir = workdir / "profile"
        self.cluster_id = cluster_id
        self.env = dict(env or os.environ)
        self.env.setdefault("IPYTHONDIR", str(workdir / "ipython"))
        self.cli("cluster", "start", "-n", str(n), "--daemonize", "--heartbeat-period", str(heartbeat_ms), *extra)
        self.info = json.loads(self.file("cluster").read_text())
        self.clients = []

    @property
    def security(self) -> Path:
        return self.profile_dir / "security"

    def file(self, stem: str) -> Path:
        if not self.cluster_id:
            return self.security / (stem + ".json")
        first, _, rest = stem.partition("-")
        return self.security / ("%s-%s%s.json" % (first, self.cluster_id, "-" + rest if rest else ""))

    def cli(self, *args, check=True) -> subprocess.CompletedProcess:
        where = ["--cluster-id", self.cluster_id, "--profile-dir", str(self.profile_dir)]
        proc = subprocess.run([str(ENSEMBLE_BIN), *args, *where], capture_output=True, text=True, timeout=60,
                              env=self.env)
        if check:
            assert proc.returncode == 0, "ensemble %s: %s%s" % (args, proc.stdout, proc.stderr)
        return proc

    def pids(self):
        return [self.info["controller_pid"], *self.info["engine_pids"]]

    def controller_log(self) -> str:
        log = self.profile_dir / "log" / ("ensemble-%s-controller.log" % (self.cluster_id or "default"))
        return log.read_text(errors="replace") if log.exists() else ""

    def connect(self, username="tester", timeout=10.0) -> "CoreClient":
        client = CoreClient(self.file("ipcontroller-client").read_text(), username, timeout)
        self.clients.append(client)
        return client

    def wait_for_engines(self, client, n, timeout=20):
        ids = wait_until(lambda: len(client.engine_ids()) >= n and client.engine_ids(), timeout, 0.05)
        assert ids and len(ids) >= n, "only %s of %d engines registered\n%s" % (ids, n, self.controller_log())
        return ids

    def stop(self):
        for client in self.clients:
            client.close()
        if any(running(pid) for pid in self.pids()):
            self.cli("cluster", "stop", check=False)
        for pid in self.pids():  # whatever a failed stop left behind
            if running(pid):
                os.kill(pid, 9)


class CoreClient:
    """Requests and replies over ``ensemble._core.Connection``, events kept by parent msg_id."""

    def __init__(self, client_file_json, username, timeout):
        from ensemble import _core

        self.conn = _core.Connection(client_file_json, username, timeout)
        self.replies = {}  # parent msg_id -> (engine_id, msg_type, content, metadata, buffers)
        self.iopub = {}  # parent msg_id -> [(engine_id, msg_type, content)]
        self.notifications = []
        self.lost = False

    def send(self, msg_type, content=None, target=-1, channel="shell", buffers=(), metadata=None):
        return self.conn.send(msg_type, json.dumps(content or {}), json.dumps(metadata or {}), list(buffers),
                              target, channel)

    def pump(self, timeout):
        event = self.conn.next_event(timeout)
        if event is None:
            return False
        kind, engine, msg_type, header, parent, metadata, content, buffers = event
        if kind == "lost":
            self.lost = True
            return True
        parent_id = json.loads(parent).get("msg_id")
        if kind == "shell":
            self.replies[parent_id] = (engine, msg_type, json.loads(content), json.loads(metadata), buffers)
        elif engine < 0:
            self.notifications.append((msg_type, json.loads(content)))
        else:
            self.iopub.setdefault(parent_id, []).append((engine, msg_type, json.loads(content)))
        return True

    def reply(self, msg_id, timeout=10.0):
        deadline = time.monotonic() + timeout
        while msg_id not in self.replies and time.monotonic() < deadline:
            self.pump(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.replies.get(msg_id)

    def request(self, msg_type, content=None, target=-1, channel="shell", timeout=10.0, buffers=()):
        return self.reply(self.send(msg_type, content, target, channel, buffers), timeout)

    def execute(self, code, target, timeout=10.0):
        return self.request("execute_request", dict(EXECUTE, code=code), target, timeout=timeout)

    def engine_ids(self):
        reply = self.request("connection_request", timeout=5)
        return sorted(int(i) for i in reply[2]["engines"]) if reply else []

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pump(0.05)

    def close(self):
        self.conn.close()

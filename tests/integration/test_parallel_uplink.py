"""An engine's one connection to its controller (kernel/uplink.hpp, docs/parallel-protocol.md):
the controller holds one connection per engine and never connects to an engine, and a message
that takes longer on the wire than the heartbeat allowance does not make its engine look dead."""

import json
import os
import time

import pytest

from cluster_util import LocalCluster, wait_until

pytestmark = pytest.mark.ensemble_only


@pytest.fixture
def cluster(tmp_path):
    made = []

    def _make(n=1, **kwargs):
        c = LocalCluster(tmp_path / ("c%d" % len(made)), n, **kwargs)
        made.append(c)
        return c

    yield _make
    for c in made:
        c.stop()


def _socket_inodes(pid):
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _established():
    """Every established TCP connection here: (local port, remote port, inode)."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "01":  # ESTABLISHED
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            rows.append((local_port, remote_port, fields[9]))
    return rows


def _connections_of(pid):
    inodes = _socket_inodes(pid)
    return [row for row in _established() if row[2] in inodes]


@pytest.mark.deadline(90)
def test_the_controller_holds_one_connection_per_engine_and_never_connects_to_an_engine(cluster):
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    controller = c.info["controller_pid"]
    before = len(_connections_of(controller))

    c.cli("cluster", "engines", "-n", "3")
    c.wait_for_engines(client, 4)
    assert wait_until(lambda: len(_connections_of(controller)) - before == 3, 5), \
        "the controller holds %d connections for 3 more engines" % (len(_connections_of(controller)) - before)

    engines = client.request("connection_request")[2]["engines"]
    registration_port = json.loads(c.file("ipcontroller-engine").read_text())["registration_port"]
    for engine_id, engine in engines.items():
        kernel = json.loads((c.security / ("engine-t-%s.json" % engine_id)).read_text())
        own_ports = {kernel[k] for k in ("shell_port", "control_port", "iopub_port", "stdin_port", "hb_port")}
        # nobody (the controller least of all) has connected to the engine's own kernel sockets
        assert not [row for row in _established() if row[0] in own_ports], (engine_id, kernel)
        # and the engine's one connection is its own, out to the controller
        assert [row[1] for row in _connections_of(engine["pid"])] == [registration_port], engine_id


@pytest.mark.deadline(120)
def test_a_result_in_flight_longer_than_the_heartbeat_allowance_keeps_its_engine(cluster):
    np = pytest.importorskip("numpy")
    import ensemble as ipp

    # ten-millisecond heartbeats, five misses allowed: 50 ms, far less than 200 MB takes
    c = cluster(n=1, heartbeat_ms=10, extra=("--db", "memory"))
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(1, timeout=20)
        view = rc[0]
        started = time.monotonic()
        view.push({"big": np.ones(200_000_000, dtype=np.uint8)}, block=True)
        total = view.apply_sync(lambda a: int(a.sum()), ipp.Reference("big"))
        result = view.pull("big", block=True)
        elapsed = time.monotonic() - started
        assert total == 200_000_000 and result.nbytes == 200_000_000
        assert elapsed > 0.05, "the transfers were too quick to prove anything (%.3f s)" % elapsed
        assert rc.ids == [0]
        assert view.apply_sync(os.getpid) == c.info["engine_pids"][0]
        assert "gone" not in c.controller_log() and "lost its connection" not in c.controller_log()
    finally:
        rc.close()

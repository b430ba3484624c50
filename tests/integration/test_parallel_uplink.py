"""An engine's one connection to its controller (kernel/uplink.hpp, docs/parallel-protocol.md):
the controller holds one connection per engine and never connects to an engine, and a message
that takes longer on the wire than the heartbeat allowance does not make its engine look dead."""

import hashlib
import hmac
import json
import os
import subprocess
import time
import uuid

import pytest

from cluster_util import cluster, raw_dealer, wait_until  # noqa: F401 (cluster: a fixture)
from conftest import ENSEMBLE_BIN

pytestmark = pytest.mark.ensemble_only


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


def _signed(key, msg_type, content, parent=None):
    """The signed frames of a message, from <IDS|MSG> on."""
    header = json.dumps({"msg_id": uuid.uuid4().hex, "session": "fake", "username": "test", "msg_type": msg_type,
                         "version": "5.3", "date": "2026-01-01T00:00:00.000000Z"}).encode()
    parts = [header, json.dumps(parent or {}).encode(), b"{}", json.dumps(content).encode()]
    signature = hmac.new(key.encode(), digestmod=hashlib.sha256)
    for part in parts:
        signature.update(part)
    return [b"<IDS|MSG>", signature.hexdigest().encode(), *parts]


def _frames_until(sock, predicate, timeout=10):
    """Every multipart message `sock` receives until one satisfies `predicate` (then all of them)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sock.poll(100):
            seen.append(sock.recv_multipart())
            if predicate(seen[-1]):
                return seen
    raise AssertionError("not received in %.0f s; saw %r" % (timeout, [m[:3] for m in seen]))


def _one_engine_cluster(cluster):
    """A cluster of one engine, a client of it that saw the engine, and its engine file."""
    pytest.importorskip("zmq")
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    return c, client, json.loads(c.file("ipcontroller-engine").read_text())


def _register_fake_engine(engine_file, name, before=()):
    """A DEALER registered as engine ``name`` (after sending the messages ``before``)."""
    fake = raw_dealer(engine_file["registration_port"], name)
    for frames in before:
        fake.send_multipart(frames)
    fake.send_multipart(_signed(engine_file["key"], "registration_request", {
        "uuid": name.decode(), "pid": 1, "hostname": "elsewhere",
        "connection": {"transport": "tcp", "ip": "127.0.0.1", "shell_port": 1, "control_port": 1,
                       "iopub_port": 1, "stdin_port": 1, "hb_port": 1}}))
    reply = _frames_until(fake, lambda m: m[0] == b"<IDS|MSG>")[-1]
    assert json.loads(reply[-1])["status"] == "ok"
    return fake


@pytest.mark.deadline(60)
def test_garbage_on_an_engine_connection_is_dropped_and_the_controller_keeps_serving(cluster):
    c, client, engine_file = _one_engine_cluster(cluster)
    # unregistered, channel-led traffic first; then registered, and malformed on every channel
    fake = _register_fake_engine(engine_file, b"engine-fake", before=[[b"shell", b"someone", b"<IDS|MSG>"]])
    try:
        for frames in ([b"shell"], [b"shell", b"someone"], [b"shell", b"someone", b"<IDS|MSG>", b"sig"],
                       [b"shell", b"someone", b"<IDS|MSG>", b"sig", b"{", b"[", b"1", b"\xff"],
                       [b"control"], [b"control", b"<IDS|MSG>", b"x"], [b"iopub"], [b"iopub", b"topic"],
                       [b"iopub", b"t", b"<IDS|MSG>", b"s", b"{", b"{", b"{", b"{"], [b"bogus", b"x"],
                       [b"mirror-request"], [b"mirror-request", b"nobody", b"<IDS|MSG>"],
                       [b"mirror-request", b"s.direct", b"<IDS|MSG>", b"sig", b"{", b"{", b"{", b"{"],
                       [b"mirror-request", b"s.direct", *_signed(engine_file["key"], "apply_request", {})[:-1]],
                       [b"mirror-reply", b"s.direct", b"<IDS|MSG>", b"s", b"{", b"[", b"1", b"\xff"],
                       [b"mirror-reply", b"s.direct", b"<IDS|MSG>", b"s", b"{}", b"{}", b"{}", b"{}"],
                       [b"<IDS|MSG>", b"bad signature", b"{}", b"{}", b"{}", b"{}"], [b"\x00" * 300],
                       [b"copies-sent"], [b"copies-sent", b"x"], [b"copies-sent", b"9" * 30],
                       [b"copies-sent", b"-1"], [b"copies-sent", b"1", b"2"]):
            fake.send_multipart(frames)
        time.sleep(0.3)
        assert c.info["controller_pid"] and client.execute("6 * 7", target=0)[2]["status"] == "ok"
        # a query over every task waits for every engine's copies: this one never sends them
        started = time.monotonic()
        assert client.request("queue_request", {}, timeout=5)[1] == "queue_reply"
        assert time.monotonic() - started < 3
        assert "dropped" in c.controller_log()
    finally:
        fake.close()


@pytest.mark.deadline(60)
def test_a_result_request_for_a_direct_task_without_its_reply_waits_for_that_engines_copies(cluster):
    # The reply may have reached its client already, past the controller, its copy still on
    # the way or held by the engine: the controller asks that engine for its copies, with a
    # token, and answers behind them (or after its grace, from an engine that never does).
    c, client, engine_file = _one_engine_cluster(cluster)
    key = engine_file["key"]
    fake = _register_fake_engine(engine_file, b"engine-copies")
    try:
        request = _signed(key, "apply_request", {})
        msg_id = json.loads(request[2])["msg_id"]
        # asked before the request's copy is in (most likely: it comes by another connection);
        # not answered by its engine: pending, after the grace
        started = time.monotonic()
        asked = client.send("result_request", {"msg_ids": [msg_id]})
        time.sleep(0.05)
        fake.send_multipart([b"mirror-request", b"someone.direct", *request])
        token = _frames_until(fake, lambda m: m[0] == b"send-copies")[-1][1:]
        assert len(token) == 1 and token[0].isdigit()
        reply = client.reply(asked, timeout=5)
        assert reply[2]["pending"] == [msg_id] and time.monotonic() - started >= 0.2
        # answered: completed, as soon as the engine says its copies went
        asked = client.send("result_request", {"msg_ids": [msg_id]})
        token = _frames_until(fake, lambda m: m[0] == b"send-copies")[-1][1:]
        parent = json.loads(request[2])
        fake.send_multipart([b"mirror-reply", b"someone.direct",
                             *_signed(key, "apply_reply", {"status": "ok"}, parent=parent)])
        started = time.monotonic()
        fake.send_multipart([b"copies-sent", *token])
        reply = client.reply(asked, timeout=5)
        assert reply[2]["completed"] == [msg_id] and reply[2]["pending"] == []
        assert time.monotonic() - started < 0.2
    finally:
        fake.close()


def engine_with_fake_controller(zmq, tmp_path):
    """``(router, key, engine)``: a ROUTER bound where an engine file says its controller is,
    and an `ensemble engine` started on that file (the caller ends both)."""
    key = uuid.uuid4().hex
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    security = tmp_path / "security"
    security.mkdir()
    engine_file = security / "ipcontroller-engine.json"
    engine_file.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", "registration_port": port,
                                       "key": key, "signature_scheme": "hmac-sha256", "cluster_id": "",
                                       "security_dir": str(security), "heartbeat_period_ms": 200}))
    engine = subprocess.Popen([str(ENSEMBLE_BIN), "engine", "--file", str(engine_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return router, key, engine


@pytest.mark.deadline(60)
def test_an_engine_serves_its_uplink_in_order_and_survives_garbage_from_it(tmp_path):
    """A fake controller: the engine registers, shrugs off malformed traffic, then answers a
    request with busy, the reply and idle on the one connection, in that order."""
    zmq = pytest.importorskip("zmq")
    router, key, engine = engine_with_fake_controller(zmq, tmp_path)
    try:
        request = _frames_until(router, lambda m: b"registration_request" in m[3])[-1]
        rid = request[0]
        assert rid.startswith(b"engine-")
        router.send_multipart([rid, *_signed(key, "registration_reply", {"status": "ok", "id": 0},
                                             json.loads(request[3]))])
        for frames in ([b"shell"], [b"shell", b"me", b"<IDS|MSG>", b"bad", b"{}", b"{}", b"{}", b"{}"],
                       [b"control", b"<IDS|MSG>"], [b"nonsense", b"x"], [b"<IDS|MSG>", b"garbage"],
                       [b"shell", b"me", b"<IDS|MSG>", b"sig", b"{", b"{", b"{", b"{"]):
            router.send_multipart([rid, *frames])
        execute = _signed(key, "execute_request", {"code": "print('hi')", "silent": False, "store_history": True,
                                                    "user_expressions": {}, "allow_stdin": False})
        # asked for its copies with a token, it answers with the token, behind them
        router.send_multipart([rid, b"send-copies", b"7"])
        assert _frames_until(router, lambda m: m[1] == b"copies-sent")[-1][1:] == [b"copies-sent", b"7"]
        router.send_multipart([rid, b"shell", b"me", *execute])
        seen = _frames_until(router, lambda m: m[1] == b"shell" and b"execute_reply" in m[5])
        assert engine.poll() is None
        parent_id = json.loads(execute[2])["msg_id"]

        def kind(m):
            if m[1] == b"shell":
                assert m[2] == b"me", m[:4]  # the routing the request came with
                return "reply"
            if m[1] == b"iopub" and json.loads(m[6]).get("msg_id") == parent_id:
                content = json.loads(m[8])
                return content.get("execution_state") or content.get("text") or json.loads(m[5])["msg_type"]
            return None

        ours = [k for k in map(kind, seen) if k]
        assert ours[0] == "busy" and "hi\n" in ours and ours[-1] == "reply", ours
        after = _frames_until(router, lambda m: m[1] == b"iopub" and kind(m) == "idle")
        assert [k for k in map(kind, after) if k] == ["idle"]
        # a controller that no longer knows it (restarted, or gave it up): it registers again, same id
        router.send_multipart([rid, *_signed(key, "registration_reply",
                                             {"status": "error", "ename": "UnknownEngine", "evalue": "again"})])
        again = _frames_until(router, lambda m: m[1] == b"<IDS|MSG>" and b"registration_request" in m[3])[-1]
        assert json.loads(again[-1])["id"] == 0 and again[0] == rid
        router.send_multipart([rid, b"control", *_signed(key, "shutdown_request", {"restart": False})])
        goodbye = _frames_until(router, lambda m: len(m) > 3 and b"unregistration_request" in m[3])
        assert any(m[1] == b"control" and b"shutdown_reply" in m[4] for m in goodbye)
        assert engine.wait(10) == 0
        assert b"dropped" in engine.stderr.read()
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
        router.close()


@pytest.mark.deadline(60)
def test_an_engine_whose_controller_is_on_another_host_binds_its_own_sockets_on_loopback(tmp_path):
    # 192.0.2.1 is TEST-NET-1: never this host, never reachable. Such an engine used to fail at
    # once, binding its kernel sockets on the controller's address; it only connects out now.
    security = tmp_path / "security"
    security.mkdir()
    engine_file = security / "ipcontroller-engine.json"
    engine_file.write_text(json.dumps({"transport": "tcp", "ip": "192.0.2.1", "registration_port": 9,
                                       "key": "k", "signature_scheme": "hmac-sha256", "cluster_id": "",
                                       "security_dir": str(security)}))
    engine = subprocess.Popen([str(ENSEMBLE_BIN), "engine", "--file", str(engine_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def listening_on_loopback():
            inodes = _socket_inodes(engine.pid)
            ports = []
            for line in open("/proc/net/tcp").read().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes and fields[1].startswith("0100007F:"):
                    ports.append(int(fields[1].split(":")[1], 16))
            return len(ports) >= 5 and ports  # shell, control, stdin, iopub, heartbeat

        assert wait_until(listening_on_loopback, 20), engine.stderr.read1() if engine.poll() is not None else ""
        assert engine.poll() is None
    finally:
        engine.kill()
        engine.wait()

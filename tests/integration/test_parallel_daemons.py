"""The controller and engines as processes: start and stop, routing, records, faults and bad
input, driven through ``ensemble._core`` (docs/parallel-protocol.md)."""

import hashlib
import hmac
import json
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from cluster_util import cluster, raw_dealer, running, wait_until  # noqa: F401 (cluster: a fixture)
from conftest import ENSEMBLE_BIN

pytestmark = pytest.mark.ensemble_only


@pytest.mark.deadline(60)
def test_cluster_start_list_and_stop_leave_no_process_or_file_behind(cluster):
    c = cluster(n=2)
    client = c.connect()
    assert c.wait_for_engines(client, 2) == [0, 1]
    for stem in ("ipcontroller-client", "ipcontroller-engine", "cluster"):
        mode = stat.S_IMODE(os.stat(c.file(stem)).st_mode)
        assert mode == 0o600, (stem, oct(mode))
    for n in (0, 1):
        assert (c.security / ("engine-t-%d.json" % n)).exists()
    # as ipyparallel's: a client on another machine can tell it cannot reach a loopback controller
    assert json.loads(c.file("ipcontroller-client").read_text())["location"] == socket.gethostname()
    listing = c.cli("cluster", "list").stdout
    assert "t\t%d\t2\trunning" % c.info["controller_pid"] in listing, listing
    client.close()
    started = time.monotonic()
    c.cli("cluster", "stop")
    assert time.monotonic() - started < 5
    assert not [pid for pid in c.pids() if running(pid)], "processes left behind"
    assert not c.file("cluster").exists() and not c.file("ipcontroller-client").exists()
    assert not (c.security / "engine-t-0.json").exists()


def test_the_daemons_threads_carry_names_that_say_what_they_do(cluster):
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    client.close()

    def names(pid):
        return {Path("/proc/%d/task/%s/comm" % (pid, tid)).read_text().strip()
                for tid in os.listdir("/proc/%d/task" % pid)}

    assert "task-store" in names(c.info["controller_pid"])
    assert {"kernel-io", "heartbeat"} <= names(c.info["engine_pids"][0])


@pytest.mark.deadline(60)
def test_requests_are_routed_to_the_chosen_engine_and_outputs_tagged_with_its_id(cluster):
    c = cluster(n=2)
    client = c.connect()
    c.wait_for_engines(client, 2)
    replies = {}
    for engine in (0, 1):
        msg_id = client.send("execute_request", dict(code="import os; print(os.getpid())", silent=False,
                                                     store_history=True, user_expressions={}, allow_stdin=False),
                             target=engine)
        replies[engine] = (msg_id, client.reply(msg_id))
    for engine, (msg_id, reply) in replies.items():
        assert reply is not None and reply[0] == engine and reply[2]["status"] == "ok", reply
        client.drain(0.2)
        outputs = client.iopub[msg_id]
        assert {e for e, _, _ in outputs} == {engine}
        printed = "".join(content["text"] for _, t, content in outputs if t == "stream")
        assert int(printed) in c.info["engine_pids"]
    pids = {int("".join(x["text"] for _, t, x in client.iopub[m] if t == "stream")) for m, _ in replies.values()}
    assert len(pids) == 2, "each engine is its own process"


@pytest.mark.deadline(60)
def test_an_unknown_engine_and_an_unknown_controller_request_get_clear_errors(cluster):
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    reply = client.execute("1", target=7)
    assert reply[2]["status"] == "error" and reply[2]["ename"] == "EngineError", reply
    reply = client.request("no_such_request")
    assert reply[2]["ename"] == "UnknownMessageType", reply
    reply = client.request("result_request", {"msg_ids": ["not-a-msg-id"]})
    assert reply[2]["status"] == "error" and reply[2]["ename"] == "KeyError", reply


@pytest.mark.deadline(60)
def test_a_second_client_fetches_results_by_msg_id_finished_or_pending(cluster):
    c = cluster(n=1)
    first, second = c.connect("first"), c.connect("second")
    c.wait_for_engines(first, 1)
    done = first.send("execute_request", dict(code="answer = 42", silent=False, store_history=True,
                                              user_expressions={}, allow_stdin=False), target=0)
    assert first.reply(done)[2]["status"] == "ok"
    slow = first.send("execute_request", dict(code="import time; time.sleep(1.0)", silent=False,
                                              store_history=True, user_expressions={}, allow_stdin=False), target=0)
    # the two clients' messages race to the controller: wait until it has seen the slow one
    assert wait_until(lambda: second.request("queue_request", {"verbose": False})[2]["0"]["queue"] == 1, 5)
    status = second.request("result_request", {"msg_ids": [done, slow]})
    assert status[2] == {"status": "ok", "completed": [done], "pending": [slow]}, status[2]
    assert second.reply(done, 5)[2]["status"] == "ok", "the finished result is re-sent to the asker"
    assert second.reply(slow, 10)[2]["status"] == "ok", "the pending one is forwarded when it arrives"
    first.close()  # the submitting client goes away; the record stays
    history = second.request("hub_history_request")[2]["history"]
    assert history[-2:] == [done, slow]
    queue = second.request("queue_request", {"verbose": False})[2]
    assert queue["0"]["queue"] == 0 and queue["0"]["completed"] >= 2
    second.request("purge_request", {"msg_ids": "all"})
    assert second.request("result_request", {"msg_ids": [done]})[2]["ename"] == "KeyError"


@pytest.mark.deadline(60)
def test_abort_request_answers_queued_requests_aborted(cluster):
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    busy = client.send("execute_request", dict(code="import time; time.sleep(0.8)", silent=False,
                                               store_history=True, user_expressions={}, allow_stdin=False), target=0)
    queued = client.send("execute_request", dict(code="ran = True", silent=False, store_history=True,
                                                 user_expressions={}, allow_stdin=False), target=0)
    assert client.request("abort_request", {"msg_ids": [queued]}, target=0, channel="control")[2]["status"] == "ok"
    assert client.reply(busy)[2]["status"] == "ok"
    assert client.reply(queued)[2]["status"] == "aborted"
    check = client.request("execute_request", dict(code="'ran' in dir()", silent=False, store_history=True,
                                                   user_expressions={"r": "'ran' in dir()"}, allow_stdin=False),
                           target=0)
    assert check[2]["user_expressions"]["r"]["data"]["text/plain"] == "False"


@pytest.mark.deadline(60)
def test_a_dead_engine_fails_its_requests_and_leaves_the_rest_working(cluster):
    c = cluster(n=2, heartbeat_ms=100)
    client = c.connect()
    c.wait_for_engines(client, 2)
    stuck = client.send("execute_request", dict(code="import time; time.sleep(60)", silent=False,
                                                store_history=True, user_expressions={}, allow_stdin=False), target=1)
    time.sleep(0.3)
    # ids follow registration order, not start order: ask the controller for engine 1's pid
    os.kill(client.request("connection_request")[2]["engines"]["1"]["pid"], signal.SIGKILL)
    reply = client.reply(stuck, 10)
    assert reply is not None, "a request to a dead engine must not hang"
    assert reply[0] == 1 and reply[2]["ename"] == "EngineError", reply
    assert "died" in reply[2]["evalue"]
    assert wait_until(lambda: client.engine_ids() == [0], 5)
    client.drain(0.2)
    assert ("unregistration_notification", {"id": 1, "uuid": reply[2]["engine_info"]["engine_uuid"]}) in \
        client.notifications
    assert client.execute("1 + 1", target=0)[2]["status"] == "ok"


@pytest.mark.deadline(60)
def test_garbage_on_every_controller_socket_is_ignored(cluster):
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    info = json.loads(c.file("ipcontroller-client").read_text())
    engine_info = json.loads(c.file("ipcontroller-engine").read_text())
    garbage = [[b""], [b"\x00\xff" * 10], [b"e0", b"<IDS|MSG>", b"bad", b"{", b"{}", b"{}", b"{}"],
               [b"<IDS|MSG>", b"sig", b"not json", b"{}", b"{}", b"{}"], [b"e0"], [b"<IDS|MSG>"]]
    for port in (info["client_port"], engine_info["registration_port"]):
        s = raw_dealer(port)
        for frames in garbage:
            s.send_multipart(frames)
        s.close()
    raw = socket.create_connection(("127.0.0.1", info["iopub_port"]))  # not even ZMTP
    raw.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(256))
    raw.close()
    time.sleep(0.3)
    assert running(c.info["controller_pid"])
    assert client.execute("6 * 7", target=0)[2]["status"] == "ok"
    assert "dropped" in c.controller_log()


@pytest.mark.deadline(60)
def test_signed_tasks_whose_header_is_not_an_object_with_string_ids_are_dropped(cluster):
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    info = json.loads(c.file("ipcontroller-client").read_text())
    s = raw_dealer(info["client_port"])
    for header in (b"[1, 2]", b'{"msg_id": 5, "msg_type": "apply_request"}', b'{"msg_id": "x1", "msg_type": "apply',
                   b'{"msg_type": "apply_request"}', b'{"msg_id": "x2", "msg_type": ""}'):
        frames = [header, b"{}", b"{}", b"{}"]
        signature = hmac.new(info["key"].encode(), digestmod=hashlib.sha256)
        for frame in frames:
            signature.update(frame)
        s.send_multipart([b"t", b"<IDS|MSG>", signature.hexdigest().encode()] + frames)
    s.close()
    wait_until(lambda: c.controller_log().count("whose header is not valid") >= 5, timeout=10)
    assert running(c.info["controller_pid"])
    reply = client.request("execute_request", dict(code="6 * 7", silent=False, store_history=True,
                                                   user_expressions={}, allow_stdin=False), channel="task")
    assert reply is not None and reply[2]["status"] == "ok", "a well-formed task still runs"


@pytest.mark.deadline(60)
def test_a_client_that_dies_does_not_disturb_the_others(cluster, tmp_path):
    c = cluster(n=1)
    script = ("import sys, json, time; sys.path.insert(0, %r)\n"
              "from ensemble import _core\n"
              "conn = _core.Connection(open(%r).read(), 'doomed', 10)\n"
              "conn.send('execute_request', json.dumps(dict(code='import time; time.sleep(0.5); x = 1', silent=False,"
              " store_history=True, user_expressions={}, allow_stdin=False)), '{}', [], 0, 'shell')\n"
              "time.sleep(0.2)  # the request is on its way; now die without a goodbye\n"
              "import os; os._exit(0)\n") % (str(ENSEMBLE_BIN.parent.parent / "python"), str(c.file("ipcontroller-client")))
    survivor = c.connect()
    c.wait_for_engines(survivor, 1)
    subprocess.run(["/usr/bin/python3", "-c", script], check=True, timeout=30)
    reply = survivor.execute("x", target=0, timeout=10)
    assert reply[2]["status"] == "ok", "the dead client's request still ran, and the engine serves others"


@pytest.mark.deadline(60)
def test_a_missing_or_vanished_controller_is_a_clear_error_not_a_hang(cluster, tmp_path):
    from ensemble import _core

    nobody = {"transport": "tcp", "ip": "127.0.0.1", "client_port": 9, "iopub_port": 9, "key": "k",
              "signature_scheme": "hmac-sha256"}
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no controller"):
        _core.Connection(json.dumps(nobody), "me", 0.5)
    assert time.monotonic() - started < 3
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    os.kill(c.info["controller_pid"], signal.SIGKILL)
    assert wait_until(lambda: client.pump(0.1) and client.lost, 10), "the client must learn the controller is gone"


@pytest.mark.deadline(90)
def test_an_engine_started_before_its_controller_registers_when_it_comes_up(tmp_path):
    profile = tmp_path / "profile"
    where = ["--cluster-id", "late", "--profile-dir", str(profile)]
    engine = subprocess.Popen([str(ENSEMBLE_BIN), "engine", *where], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    controller = None
    try:
        time.sleep(0.5)
        controller = subprocess.Popen([str(ENSEMBLE_BIN), "controller", *where], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        client_file = profile / "security" / "ipcontroller-late-client.json"
        assert wait_until(client_file.exists, 10)
        from cluster_util import CoreClient

        client = CoreClient(client_file.read_text(), "me", 10)
        assert wait_until(lambda: client.engine_ids() == [0], 20)
        client.close()
    finally:
        for proc in (engine, controller):
            if proc is not None:
                proc.kill()
                proc.wait(10)


@pytest.mark.deadline(60)
def test_engines_added_to_a_running_cluster_register_and_stop_with_it(cluster):
    c = cluster(n=1)
    client = c.connect()
    c.wait_for_engines(client, 1)
    c.cli("cluster", "engines", "-n", "2")
    assert c.wait_for_engines(client, 3) == [0, 1, 2]
    info = json.loads(c.file("cluster").read_text())
    assert len(info["engine_pids"]) == 3
    c.info = info
    client.close()
    c.cli("cluster", "stop")
    assert not [pid for pid in info["engine_pids"] if running(pid)]


@pytest.mark.deadline(60)
def test_cluster_start_engines_grows_a_running_cluster_from_python(tmp_path):
    import ensemble as ipp

    cluster = ipp.Cluster(n=1, profile_dir=str(tmp_path / "p"), cluster_id="grow")
    rc = cluster.start_and_connect_sync()
    try:
        added = cluster.start_engines_sync(1)
        rc.wait_for_engines(2, timeout=30)
        assert rc.ids == [0, 1]
        assert len(cluster.engines[added]["pids"]) == 1
        assert sorted(rc[:].apply_sync(lambda: 7)) == [7, 7]
    finally:
        rc.close()
        pids = [pid for engine_set in cluster.engines.values() for pid in engine_set["pids"]]
        cluster.stop_cluster_sync()
    assert pids and not [pid for pid in pids if running(pid)]


@pytest.mark.deadline(90)
def test_cluster_stop_and_restart_engines_touch_one_engine_set_and_keep_the_controller(tmp_path):
    import ensemble as ipp

    cluster = ipp.Cluster(n=1, profile_dir=str(tmp_path / "p"), cluster_id="sets")
    rc = cluster.start_and_connect_sync()
    try:
        first = list(cluster.engines)[0]
        added = cluster.start_engines_sync(2)
        rc.wait_for_engines(3, timeout=30)
        added_pids = list(cluster.engines[added]["pids"])
        assert len(added_pids) == 2

        cluster.stop_engines_sync(added)
        assert wait_until(lambda: rc.ids == [0], 10), rc.ids
        assert not [pid for pid in added_pids if running(pid)]
        assert list(cluster.engines) == [first] and running(cluster.controller["pid"])
        assert rc[0].apply_sync(lambda: 6 * 7) == 42

        old = list(cluster.engines[first]["pids"])
        cluster.restart_engines_sync(first)
        rc.wait_for_engines(1, timeout=30)
        new = cluster.engines[first]["pids"]
        assert len(new) == 1 and new != old and not running(old[0])
        assert rc[:].apply_sync(os.getpid) == new

        cluster.stop_engines_sync()
        assert wait_until(lambda: rc.ids == [], 10), rc.ids
        assert cluster.engines == {} and running(cluster.controller["pid"])
        with pytest.raises(KeyError):
            cluster.stop_engines_sync("no such set")
    finally:
        rc.close()
        controller = cluster.controller["pid"] if cluster.controller else None
        cluster.stop_cluster_sync()
    assert controller and not running(controller)


@pytest.mark.deadline(60)
def test_a_local_engine_that_dies_is_noticed_at_once_not_after_missed_heartbeats(cluster):
    c = cluster(n=2, heartbeat_ms=2000)  # five missed heartbeats would take 10 s
    client = c.connect()
    c.wait_for_engines(client, 2)
    stuck = client.send("execute_request", dict(code="import time; time.sleep(60)", silent=False,
                                                store_history=True, user_expressions={}, allow_stdin=False), target=0)
    time.sleep(0.3)
    started = time.monotonic()
    os.kill(client.request("connection_request")[2]["engines"]["0"]["pid"], signal.SIGKILL)
    reply = client.reply(stuck, 10)
    assert reply is not None and reply[2]["ename"] == "EngineError", reply
    assert time.monotonic() - started < 3

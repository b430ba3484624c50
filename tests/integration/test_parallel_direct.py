"""Direct requests (docs/parallel-protocol.md, "Direct requests"): a client sends an engine's
shell requests straight to the engine's kernel, past the controller, and the controller still
records every one from the engine's mirrored copies."""

import json
import os
import signal
import threading
import time
from contextlib import contextmanager

import pytest

import ensemble as ipp
from cluster_util import cluster, wait_until  # noqa: F401 (cluster: a fixture)

pytestmark = pytest.mark.ensemble_only


@contextmanager
def _paused(pid):
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _client(c):
    return ipp.Client(url_file=str(c.file("ipcontroller-client")))


def _same(value):
    return value


def _sleep_then(seconds, value):
    import time

    time.sleep(seconds)
    return value


@pytest.mark.deadline(60)
def test_a_request_reaches_its_engine_while_the_controller_is_paused_and_is_recorded_after(cluster):
    c = cluster(n=2)
    rc, other = _client(c), _client(c)
    try:
        rc.wait_for_engines(2)
        with _paused(c.info["controller_pid"]):
            ar = rc[0].apply_async(os.getpid)
            engine_pid = ar.get(5)
        assert engine_pid != os.getpid()
        msg_id = ar.msg_ids[0]
        assert wait_until(lambda: msg_id in rc.hub_history(), 5)
        assert other.get_result(msg_id).get(5) == engine_pid
        record = other.db_query({"msg_id": msg_id}, keys=["queue", "engine_uuid", "completed"])[0]
        assert record["queue"] == "mux" and record["engine_uuid"] == rc._engines[0]
        assert record["completed"] is not None
        assert rc.queue_status()[0]["completed"] >= 1
    finally:
        rc.close()
        other.close()


@pytest.mark.deadline(60)
def test_with_direct_requests_turned_off_a_request_waits_for_a_paused_controller(cluster, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_DIRECT", "0")
    c = cluster(n=1)
    rc = _client(c)
    try:
        rc.wait_for_engines(1)
        assert rc._direct == {}
        with _paused(c.info["controller_pid"]):
            ar = rc[0].apply_async(os.getpid)
            with pytest.raises(ipp.TimeoutError):
                ar.get(0.5)
        assert ar.get(5) != os.getpid()
    finally:
        rc.close()


@pytest.mark.deadline(60)
def test_engines_past_the_clients_limit_of_direct_sockets_go_through_the_controller(cluster, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_DIRECT_ENGINES", "1")
    c = cluster(n=2)
    rc = _client(c)
    try:
        rc.wait_for_engines(2)
        with _paused(c.info["controller_pid"]):
            first = rc[1].apply_async(os.getpid)  # the first engine used gets the one direct socket
            second = rc[0].apply_async(os.getpid)
            assert first.get(5) != os.getpid()
            with pytest.raises(ipp.TimeoutError):
                second.get(0.5)
        assert second.get(5) != first.get()
        assert rc[1].apply_sync(os.getpid) == first.get() and rc[0].apply_sync(os.getpid) == second.get()
    finally:
        rc.close()


@pytest.mark.deadline(60)
def test_direct_requests_queued_on_an_engine_show_in_queue_status_and_a_second_client_gets_one(cluster):
    c = cluster(n=1)
    rc, other = _client(c), _client(c)
    try:
        rc.wait_for_engines(1)
        view = rc[0]
        running = view.apply_async(_sleep_then, 1.0, "first")
        queued = view.apply_async(_sleep_then, 0, "second")
        assert wait_until(lambda: rc.queue_status()[0]["queue"] == 2, 0.9), rc.queue_status()
        # asked for while it waits: the controller sends it on once the engine's copy of the reply comes
        fetched = other.get_result(queued.msg_ids[0], block=False)
        assert fetched.get(10) == "second" and running.get(10) == "first" and queued.get(10) == "second"
        assert wait_until(lambda: rc.queue_status()[0]["queue"] == 0, 5)
    finally:
        rc.close()
        other.close()


@pytest.mark.deadline(60)
def test_a_running_direct_request_is_known_to_the_controller_while_it_runs_not_only_once_it_ends(cluster):
    # The engine's main thread reads the request and queues its copy for the I/O thread;
    # that thread once could have looked just before, and slept on it till the reply (or,
    # here, the next heartbeat: hence a long period).
    c = cluster(n=1, heartbeat_ms=2000)
    rc, other = _client(c), _client(c)

    def pending(msg_id):
        try:
            return other.result_status([msg_id])["pending"] == [msg_id]
        except ipp.RemoteError:  # KeyError: the controller has not heard of it
            return False

    try:
        rc.wait_for_engines(1)
        for i in range(8):
            ar = rc[0].apply_async(_sleep_then, 0.4, i)
            assert wait_until(lambda: pending(ar.msg_ids[0]), 0.2), "request %d unknown while it ran" % i
            assert ar.get(10) == i
            time.sleep(0.1)  # the engine's threads go to sleep, as between a user's requests
    finally:
        rc.close()
        other.close()


@pytest.mark.deadline(60)
def test_a_client_asking_for_a_direct_request_before_the_controller_heard_of_it_gets_its_result(cluster):
    c = cluster(n=1)
    rc, other = _client(c), _client(c)
    try:
        rc.wait_for_engines(1)
        engine_pid = rc[0].apply_sync(os.getpid)
        asked = {}
        with _paused(engine_pid):  # the request waits for the engine, and so does its copy
            ar = rc[0].apply_async(_sleep_then, 0, "late")
            asking = threading.Thread(target=lambda: asked.update(ar=other.get_result(ar.msg_ids[0], block=False)))
            asking.start()
            time.sleep(0.03)
        asking.join(10)
        assert asked["ar"].get(10) == "late" and ar.get(10) == "late"
        with pytest.raises(ipp.RemoteError) as unknown:  # one that never comes is still a KeyError
            other.get_result("no-such-msg-id")
        assert unknown.value.ename == "KeyError"
    finally:
        rc.close()
        other.close()


@pytest.mark.deadline(60)
def test_the_requests_of_one_client_to_an_engine_keep_their_order_across_views(cluster):
    c = cluster(n=2)
    rc = _client(c)
    try:
        rc.wait_for_engines(2)
        dview = rc[:]
        dview.block = False
        for i in range(50):  # nothing waits in between: only the order on the wire keeps them right
            dview.execute("ordered = %d" % i)
            dview.push({"pushed": i})
            assert dview.pull(["ordered", "pushed"]).get(5) == [[i, i], [i, i]]
    finally:
        rc.close()


@pytest.mark.deadline(90)
def test_a_first_direct_push_reaches_its_engine_before_a_task_sent_next_through_the_controller(cluster):
    # A client's first request to an engine opens that engine's direct socket. The push must
    # not wait there for the connection while the next request, through the controller,
    # overtakes it (as ipyparallel's test_z_crash_mux does with a scatter, then a broadcast).
    c = cluster(n=2)
    first = _client(c)
    try:
        first.wait_for_engines(2)
        for i in range(15):
            rc = _client(c)  # a fresh client: no direct socket is open yet
            try:
                rc.wait_for_engines(2)
                rc[:].push({"pushed_first": i}, block=False)
                assert rc.broadcast_view().apply_sync(_same, ipp.Reference("pushed_first")) == [i, i]
                rc[:].push({"pushed_second": i}, block=False)
                lview = rc.load_balanced_view(targets=[rc.ids[1]])
                assert lview.apply_sync(_same, ipp.Reference("pushed_second")) == i
            finally:
                rc.close()
    finally:
        first.close()


@pytest.mark.deadline(60)
def test_a_new_endpoint_for_an_engine_id_takes_over_from_the_old_one(cluster):
    zmq = pytest.importorskip("zmq")
    c = cluster(n=1)
    client = c.connect()
    old, new = (zmq.Context.instance().socket(zmq.ROUTER) for _ in range(2))
    try:
        ports = [s.bind_to_random_port("tcp://127.0.0.1") for s in (old, new)]
        client.conn.connect_engine(7, "tcp://127.0.0.1:%d" % ports[0])
        first = client.send("kernel_info_request", target=7)
        client.conn.connect_engine(7, "tcp://127.0.0.1:%d" % ports[0])  # the same: nothing changes
        client.conn.connect_engine(7, "tcp://127.0.0.1:%d" % ports[1])
        second = client.send("kernel_info_request", target=7)
        for router, msg_id in ((old, first), (new, second)):
            assert router.poll(5000), "nothing reached the engine's endpoint"
            frames = router.recv_multipart()
            assert frames[0] == (client.conn.session + ".direct").encode()
            assert json.loads(frames[3])["msg_id"] == msg_id
        assert not old.poll(200)
    finally:
        old.close(linger=0)
        new.close(linger=0)


def _signed_frames(key, header, parent, metadata, content):
    import hashlib
    import hmac

    parts = [json.dumps(x).encode() for x in (header, parent, metadata, content)]
    return [b"<IDS|MSG>", hmac.new(key.encode(), b"".join(parts), hashlib.sha256).hexdigest().encode(), *parts]


@pytest.mark.deadline(60)
def test_a_controller_request_after_a_direct_reply_waits_for_the_engines_copy_of_it(cluster):
    """A fake engine answers a direct request at once, but sends the controller its copies
    only later: the client's next controller request is answered once they are in, so the
    controller never contradicts what the client has seen."""
    import socket

    zmq = pytest.importorskip("zmq")
    from ensemble import serialize
    from test_parallel_uplink import _frames_until, _signed

    c = cluster(n=1, heartbeat_ms=2000)
    key = json.loads(c.file("ipcontroller-engine").read_text())["key"]
    registration_port = json.loads(c.file("ipcontroller-engine").read_text())["registration_port"]
    context = zmq.Context.instance()
    uplink, shell = context.socket(zmq.DEALER), context.socket(zmq.ROUTER)
    uplink.linger = shell.linger = 0
    uplink.routing_id = b"engine-fake"
    shell_port = shell.bind_to_random_port("tcp://127.0.0.1")
    uplink.connect("tcp://127.0.0.1:%d" % registration_port)
    rc = _client(c)
    try:
        uplink.send_multipart(_signed(key, "registration_request", {
            "uuid": "fake", "pid": os.getpid(), "hostname": socket.gethostname(),
            "connection": {"transport": "tcp", "ip": "127.0.0.1", "shell_port": shell_port}}))
        fake_id = json.loads(_frames_until(uplink, lambda m: m[0] == b"<IDS|MSG>")[-1][-1])["id"]
        rc.wait_for_engines(2)
        ar = rc[fake_id].apply_async(lambda: None)
        request = shell.recv_multipart()
        identity, header = request[0], json.loads(request[3])
        reply = _signed_frames(key, {"msg_id": "r-" + header["msg_id"], "session": "fake", "username": "engine",
                                     "date": header["date"], "msg_type": "apply_reply", "version": "5.3"},
                               header, {"engine_id": fake_id, "status": "ok", "outputs": "none"},
                               {"status": "ok"}) + [bytes(b) for b in serialize.pack_result(42)]
        shell.send_multipart([identity, *reply])
        assert ar.get(5) == 42  # straight from the engine; the controller has not heard of it

        asked = {}
        query = threading.Thread(target=lambda: asked.update(records=rc.db_query(
            {"msg_id": ar.msg_ids[0]}, keys=["completed", "queue"])))
        query.start()
        time.sleep(0.1)
        assert query.is_alive(), "answered before the controller had the reply the client has seen"
        uplink.send_multipart([b"mirror-request", *request])
        uplink.send_multipart([b"mirror-reply", identity, *reply])
        query.join(5)
        (record,) = asked["records"]
        assert record["queue"] == "mux" and record["completed"] is not None
    finally:
        rc.close()
        uplink.close()
        shell.close()


def _noop():
    return None


def _say(i):
    print("said", i)
    return i


@pytest.mark.deadline(90)
def test_replies_of_one_engine_arrive_in_request_order_whether_or_not_their_requests_printed(cluster):
    # A quiet apply's reply is sent by the engine's main thread itself; a request that printed
    # has its reply sent by the I/O thread after its output. Neither may overtake the other.
    c = cluster(n=1)
    rc = _client(c)
    try:
        rc.wait_for_engines(1)
        view = rc[rc.ids[0]]
        view.block = False
        arrived, sent, results = [], [], []
        events = rc._events  # the client's event thread sees replies in the order they arrive
        on_applied, on_reply = events.on_applied, events.on_reply

        def applied(engine_id, msg_id, *rest):
            arrived.append(msg_id)
            on_applied(engine_id, msg_id, *rest)

        def replied(engine_id, msg):
            arrived.append(msg["parent_header"].get("msg_id"))
            on_reply(engine_id, msg)

        events.on_applied, events.on_reply = applied, replied
        for i in range(300):
            kind = i % 3
            if kind == 0:
                ar = view.execute("print('cell', %d)" % i)
            elif kind == 1:
                ar = view.apply_async(_noop)
            else:
                ar = view.apply_async(_say, i)
            sent.append(ar.msg_ids[0])
            results.append((kind, i, ar))
        rc.wait(timeout=30)
        assert arrived == sent
        for kind, i, ar in results:
            assert ar.wait_for_output(timeout=10)
            if kind == 0:
                assert ar.stdout == "cell %d\n" % i
            elif kind == 1:
                assert ar.get() is None and ar.stdout == ""
            else:
                assert ar.get() == i and ar.stdout == "said %d\n" % i
    finally:
        rc.close()

"""Direct requests (docs/parallel-protocol.md, "Direct requests"): a client sends an engine's
shell requests straight to the engine's kernel, past the controller, and the controller still
records every one from the engine's mirrored copies."""

import os
import signal
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
        assert record["queue"] == "mux" and record["engine_uuid"] == rc._engines[0]["uuid"]
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

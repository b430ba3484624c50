"""When an engine sends the controller its copies of direct requests and replies
(docs/parallel-protocol.md, "Direct requests"): held up to its copy delay
(`ensemble engine --copy-delay-ms`, ENSEMBLE_COPY_DELAY_MS) to go several at once,
and sent at once when a client's controller request waits on them."""

import os
import signal
import time

import pytest

import ensemble as ipp
from cluster_util import cluster, wait_until  # noqa: F401 (cluster: a fixture)

pytestmark = pytest.mark.ensemble_only

# Long enough that neither the copy delay nor a heartbeat (which wakes the engine's
# I/O thread, and so sends what it holds) can pass for the engine being asked.
SLOW = dict(heartbeat_ms=3000, env=dict(os.environ, ENSEMBLE_COPY_DELAY_MS="3000"))


def _same(value):
    return value


@pytest.mark.deadline(60)
def test_a_controller_request_after_a_direct_reply_gets_the_engine_to_send_its_copies_now(cluster):
    c = cluster(n=1, **SLOW)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(1)
        before = rc.queue_status()[0]["completed"]
        for value in range(3):
            assert rc[0].apply_sync(_same, value) == value
            started = time.monotonic()
            # held for the copies of that reply (its "sync"), which the engine sends when asked
            assert rc.queue_status()[0]["completed"] == before + value + 1
            assert time.monotonic() - started < 2.5
    finally:
        rc.close()


@pytest.mark.deadline(60)
def test_an_engine_holds_its_copies_up_to_its_copy_delay_when_nobody_asks(cluster):
    c = cluster(n=1, **SLOW)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    other = c.connect()
    try:
        rc.wait_for_engines(1)
        time.sleep(0.2)  # the registration's own traffic is over
        ar = rc[0].apply_async(_same, "held")
        assert ar.get(10) == "held"
        sent = time.monotonic()

        def known():
            # a result_request for an id it has not heard of waits for it (passively:
            # it asks no engine), then is a KeyError
            reply = other.request("result_request", dict(msg_ids=ar.msg_ids), timeout=5)
            return reply is not None and reply[2]["status"] == "ok"

        assert wait_until(known, 10, interval=0.1)
        assert time.monotonic() - sent > 0.5, "the copies went up before the delay or a heartbeat"
    finally:
        rc.close()
        other.close()


@pytest.mark.deadline(60)
def test_another_clients_hub_history_db_query_and_queue_status_see_a_direct_request_it_had_no_reply_to(cluster):
    # The first client's direct reply is not the second's to name ("sync"): these
    # queries over every task get every engine to send what it holds, and wait for it.
    c = cluster(n=2, **SLOW)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    other = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(2)
        other.wait_for_engines(2)
        for engine, query in ((0, "hub_history"), (1, "db_query"), (0, "queue_status")):
            before = other.queue_status(targets=[engine])[engine]["completed"]
            ar = rc[engine].apply_async(_same, query)
            assert ar.get(10) == query
            started = time.monotonic()
            if query == "hub_history":
                assert ar.msg_ids[0] in other.hub_history()
            elif query == "db_query":
                records = other.db_query({"msg_id": ar.msg_ids[0]}, keys=["msg_id", "completed"])
                assert [r["msg_id"] for r in records] == ar.msg_ids and records[0]["completed"]
            else:
                assert other.queue_status(targets=[engine])[engine]["completed"] == before + 1
            assert time.monotonic() - started < 2.5, "waited for the copy delay, not for the engine"
    finally:
        rc.close()
        other.close()


@pytest.mark.deadline(60)
def test_a_query_over_every_task_is_answered_when_an_engine_never_sends_its_copies(cluster):
    # an engine stopped (SIGSTOP) answers nothing: the query waits for it only its grace
    c = cluster(n=2)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    stopped = c.info["engine_pids"][1]
    try:
        rc.wait_for_engines(2)
        ar = rc[0].apply_async(_same, 1)
        ar.get(10)
        os.kill(stopped, signal.SIGSTOP)
        started = time.monotonic()
        assert ar.msg_ids[0] in rc.hub_history()
        assert time.monotonic() - started < 5
    finally:
        os.kill(stopped, signal.SIGCONT)
        rc.close()


@pytest.mark.deadline(60)
def test_a_held_request_naming_engines_that_are_not_there_or_not_ids_is_still_answered(cluster):
    c = cluster(n=1)
    client = c.connect()
    try:
        c.wait_for_engines(client, 1)
        for engines in (["0", None, 7, -1, 2.5], "all", {"0": 1}, [[0]], [10 ** 30]):
            reply = client.request("queue_request", dict(sync=["never-sent"], sync_engines=engines), timeout=5)
            assert reply is not None and reply[1] == "queue_reply", engines
        assert client.engine_ids() == [0]  # and the controller is still serving
    finally:
        client.close()

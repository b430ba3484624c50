"""When an engine sends the controller its copies of direct requests and replies
(docs/parallel-protocol.md, "Direct requests"): held up to its copy delay
(`ensemble engine --copy-delay-ms`, ENSEMBLE_COPY_DELAY_MS) to go several at once,
and sent at once when a client's controller request waits on them."""

import os
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
    other = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(1)
        time.sleep(0.2)  # the registration's own traffic is over
        ar = rc[0].apply_async(_same, "held")
        assert ar.get(10) == "held"
        sent = time.monotonic()
        # another client, which has had no direct reply, asks nothing of the engine
        assert wait_until(lambda: ar.msg_ids[0] in other.hub_history(), 10, interval=0.1)
        assert time.monotonic() - sent > 0.5, "the copies went up before the delay or a heartbeat"
        assert other.get_result(ar.msg_ids[0]).get(5) == "held"
    finally:
        rc.close()
        other.close()


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

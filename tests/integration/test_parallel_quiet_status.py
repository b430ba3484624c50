"""An apply that publishes nothing sends no busy or idle to the controller: its reply says
``"outputs": "none"`` instead (kernel/uplink.hpp, docs/parallel-protocol.md). An apply that
prints gets busy before its first output and idle after its reply, as before, and a console
attached to the engine still sees every status on the engine's own iopub."""

import json
import os
import time

import pytest
import zmq

import ensemble as ipp  # noqa: F401
from parallel_fixtures import rc, started  # noqa: F401

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]


def noop():
    return None


def chatty():
    print("said something")
    return 7


class Listener:
    """A SUB on every message of one iopub socket: (msg_type, parent msg_id, state) each."""

    def __init__(self, url):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket.connect(url)

    def settle(self, probe):
        """Waits until the subscription carries messages (probe() makes some)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe()
            if self.socket.poll(200):
                self.collect(0.2)
                return
        raise AssertionError("the subscription never carried a message")

    def collect(self, seconds):
        seen, deadline = [], time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.socket.poll(int(left * 1000)):
                return seen
            frames = self.socket.recv_multipart()
            at = frames.index(b"<IDS|MSG>")
            header, parent, content = (json.loads(f) for f in (frames[at + 2], frames[at + 3], frames[at + 5]))
            seen.append((header["msg_type"], parent.get("msg_id"), content.get("execution_state")))

    def close(self):
        self.socket.close(0)
        self.context.term()


@pytest.fixture
def controller_iopub(started):
    with open(started.client_file) as f:
        info = json.load(f)
    listener = Listener("tcp://%s:%d" % (info["ip"], info["iopub_port"]))
    yield listener
    listener.close()


def of(seen, msg_id):
    return [(kind, state) for kind, parent, state in seen if parent == msg_id]


def test_an_apply_that_publishes_nothing_sends_no_status_and_its_reply_says_so(rc, controller_iopub):
    controller_iopub.settle(lambda: rc[0].execute("pass", block=True))
    ar = rc[0].apply_async(noop)
    assert ar.get(10) is None
    assert ar.wait_for_output(timeout=0.5), "its outputs were not complete at its reply"
    assert of(controller_iopub.collect(0.5), ar.msg_ids[0]) == []
    # another client, fetching the reply from the controller's record, sees the mark too
    assert rc.get_result(ar.msg_ids[0], owner=False).get(10) is None


def test_an_apply_that_prints_gets_busy_before_its_output_and_idle_after(rc, controller_iopub):
    controller_iopub.settle(lambda: rc[1].execute("pass", block=True))
    ar = rc[1].apply_async(chatty)
    assert ar.get(10) == 7
    assert ar.wait_for_output(timeout=5)
    assert ar.stdout == "said something\n"
    assert of(controller_iopub.collect(0.5), ar.msg_ids[0]) == [
        ("status", "busy"), ("stream", None), ("status", "idle")]


def test_a_console_on_the_engine_still_sees_the_busy_and_idle_of_every_apply(rc, started):
    engine_id = rc.ids[0]
    path = os.path.join(started.profile_dir, "security", "engine-%s-%d.json" % (started.cluster_id, engine_id))
    with open(path) as f:
        info = json.load(f)
    own = Listener("tcp://%s:%d" % (info["ip"], info["iopub_port"]))
    try:
        own.settle(lambda: rc[engine_id].execute("pass", block=True))
        ar = rc[engine_id].apply_async(noop)
        ar.get(10)
        assert of(own.collect(0.5), ar.msg_ids[0]) == [("status", "busy"), ("status", "idle")]
    finally:
        own.close()

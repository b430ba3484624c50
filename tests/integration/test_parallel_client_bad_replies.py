"""Bad bytes from a controller reach the client's event thread as text, never as
an exception: a fake controller (pyzmq, signing as the real one) answers the
client core (ensemble._core) with replies and statuses whose ids and dates are
not UTF-8, and with a normal reply after them."""

import hashlib
import hmac
import json
import threading
import time

import pytest
import zmq

KEY = b"fake-controller-key"


def _signed(header, parent, metadata, content):
    frames = [json.dumps(x).encode() if not isinstance(x, bytes) else x
              for x in (header, parent, metadata, content)]
    mac = hmac.new(KEY, digestmod=hashlib.sha256)
    for frame in frames:
        mac.update(frame)
    return [b"<IDS|MSG>", mac.hexdigest().encode()] + frames


class FakeController(threading.Thread):
    """Answers connection probes, publishes the welcome, then on request sends
    `script`: a list of (kind, frames) with kind "reply" or "iopub"."""

    def __init__(self):
        super().__init__(daemon=True)
        ctx = zmq.Context.instance()
        self.router = ctx.socket(zmq.ROUTER)
        self.pub = ctx.socket(zmq.PUB)
        self.client_port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.iopub_port = self.pub.bind_to_random_port("tcp://127.0.0.1")
        self.script = []
        self.stop = False

    def run(self):
        session = None
        while not self.stop:
            self.pub.send_multipart([b"controller"] + _signed(
                {"msg_id": "w", "msg_type": "iopub_welcome", "date": ""}, {}, {}, {}))
            if self.router.poll(20):
                frames = self.router.recv_multipart()
                sender, header = frames[0], json.loads(frames[3])
                session = sender[: -len(b".tx")] if sender.endswith(b".tx") else sender
                reply = {"msg_id": "r" + header["msg_id"], "msg_type": "connection_reply", "date": ""}
                self.router.send_multipart([session] + _signed(reply, header, {}, {"status": "ok"}))
            while self.script and session is not None:
                kind, frames = self.script.pop(0)
                if kind == "reply":
                    self.router.send_multipart([session, b"e0"] + frames)
                else:
                    self.pub.send_multipart([b"engine.0"] + frames)

    def close(self):
        self.stop = True
        self.join(5)
        self.router.close(0)
        self.pub.close(0)


@pytest.mark.deadline(60)
def test_replies_and_statuses_whose_ids_are_not_utf8_arrive_as_text():
    from ensemble import _core

    fake = FakeController()
    fake.start()
    conn = None
    try:
        info = {"transport": "tcp", "ip": "127.0.0.1", "client_port": fake.client_port,
                "iopub_port": fake.iopub_port, "key": KEY.decode(), "signature_scheme": "hmac-sha256"}
        conn = _core.Connection(json.dumps(info), "me", 10.0)
        bad_parent = b'{"msg_id": "bad-\xff\xfe", "date": "2026-\xc3"}'
        header = b'{"msg_id": "x", "msg_type": "apply_reply", "date": "\xff"}'
        status = b'{"msg_id": "s", "msg_type": "status", "date": "\xfe"}'
        fake.script += [
            ("reply", _signed(header, bad_parent, {"engine_uuid": "u", "started": "\xe9"}, {"status": "ok"})),
            ("iopub", _signed(status, bad_parent, {}, {"execution_state": "busy"})),
            ("reply", _signed({"msg_id": "y", "msg_type": "apply_reply", "date": "d"},
                              {"msg_id": "good", "date": "p"}, {}, {"status": "ok"})),
        ]
        events, deadline = [], time.monotonic() + 10
        while len(events) < 3 and time.monotonic() < deadline:
            events += conn.next_events(0.2)
        # replies and iopub come on two sockets: their relative order is not kept
        kinds = sorted((e[0], e[2]) for e in events)
        assert kinds == [("applied", "bad-\ufffd\ufffd"), ("applied", "good"), ("status", "bad-\ufffd\ufffd")], kinds
        by_id = {(e[0], e[2]): e for e in events}
        assert by_id[("applied", "bad-\ufffd\ufffd")][3] == "\ufffd"  # the reply's date
        assert by_id[("status", "bad-\ufffd\ufffd")][4] == "\ufffd"  # the status's date
    finally:
        if conn is not None:
            conn.close()
        fake.close()

"""The kernel's iopub is an XPUB that reads its subscriptions, and publishes (and so
encodes) only what a subscriber takes: a subscriber gets exactly what its topic names,
including one that subscribes or comes back while the kernel runs."""

import json
import time

import pytest
import zmq
from jupyter_client.session import Session

EXECUTE = dict(silent=False, store_history=False, user_expressions={}, allow_stdin=False, stop_on_error=True)


def _collect(sub, seconds):
    """The msg_types ``sub`` receives within ``seconds``."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sub.poll(50):
            frames = sub.recv_multipart()
            got.append((frames[0], json.loads(frames[frames.index(b"<IDS|MSG>") + 2])["msg_type"]))
    return got


@pytest.mark.deadline(60)
def test_subscribers_get_what_their_topics_name_and_nothing_else(fresh_kernel):
    info = fresh_kernel.km.get_connection_info()
    fresh_kernel.kc.stop_channels()  # its subscription to everything goes: only ours are left
    session = Session(key=info["key"], signature_scheme=info["signature_scheme"])
    ctx = zmq.Context.instance()
    url = "tcp://%s:%d" % (info["ip"], info["iopub_port"])

    def subscriber(topic):
        sub = ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, topic)
        sub.connect(url)
        return sub

    shell = ctx.socket(zmq.DEALER)
    shell.linger = 0
    shell.connect("tcp://%s:%d" % (info["ip"], info["shell_port"]))

    def run(code):
        session.send(shell, "execute_request", dict(EXECUTE, code=code))
        assert shell.poll(10000), "no reply"
        shell.recv_multipart()

    kernel_topics, nothing = subscriber(b"kernel."), subscriber(b"no such topic")
    streams = None
    try:
        time.sleep(0.3)  # the subscriptions reach the kernel
        run("print('seen')")
        got = _collect(kernel_topics, 1.0)
        types = [t for _, t in got]
        assert {"status", "execute_input", "stream"} <= set(types), got
        assert all(topic.startswith(b"kernel.") for topic, _ in got)
        assert _collect(nothing, 0.2) == []
        # the only subscriber to what the kernel publishes leaves; one that comes later,
        # for the streams alone, gets them and nothing else
        kernel_topics.close()
        time.sleep(0.3)
        run("print('unseen')")
        streams = subscriber(b"kernel.%s.stream" % _kernel_session(got).encode())
        time.sleep(0.3)
        run("print('seen again')")
        again = _collect(streams, 1.0)
        assert [t for _, t in again] == ["stream"], again
        assert _collect(nothing, 0.2) == []
    finally:
        for s in (kernel_topics, nothing, shell, streams):
            if s is not None:
                s.close()


def _kernel_session(got):
    """The kernel's session id, from the topic it published under ("kernel.<id>.<type>")."""
    return got[0][0].decode().split(".")[1]

"""An engine's copies for its controller of the requests a client sends it directly, and of
their replies (docs/parallel-protocol.md, "Mirrors"), against a fake controller."""

import json
import time
from contextlib import contextmanager

import pytest

pytestmark = pytest.mark.ensemble_only


@contextmanager
def _engine_and_direct_peer(tmp_path, routing_id):
    """``(router, key, engine, direct)``: an engine on a fake controller (the ROUTER, which
    still has to answer its registration), and a DEALER with ``routing_id`` for its shell."""
    zmq = pytest.importorskip("zmq")
    from test_parallel_uplink import engine_with_fake_controller
    router, key, engine = engine_with_fake_controller(zmq, tmp_path)
    direct = zmq.Context.instance().socket(zmq.DEALER)
    direct.linger = 0
    direct.routing_id = routing_id
    try:
        yield router, key, engine, direct
        assert engine.poll() is None
    finally:
        direct.close()
        if engine.poll() is None:
            engine.kill()
            engine.wait()
        router.close()


def _execute_6_times_7(key, direct):
    """Sends an execute_request on ``direct``; (the request's frames, its reply's)."""
    from test_parallel_uplink import _frames_until, _signed
    execute = _signed(key, "execute_request", {"code": "6 * 7", "silent": False, "store_history": True,
                                                "user_expressions": {}, "allow_stdin": False})
    direct.send_multipart(execute)
    reply = _frames_until(direct, lambda m: b"execute_reply" in m[2])[-1]
    assert json.loads(reply[5])["status"] == "ok"
    return execute, reply


def _assert_mirrored(router, routing_id, request, reply):
    """The fake controller gets the copy of ``request``, then of ``reply``, as signed."""
    from test_parallel_uplink import _frames_until
    seen = _frames_until(router, lambda m: m[1] == b"mirror-reply")
    mirrored = [m[1:] for m in seen if m[1].startswith(b"mirror-")]
    assert [m[0] for m in mirrored] == [b"mirror-request", b"mirror-reply"], [m[:2] for m in seen]
    assert mirrored[0][1:] == [routing_id, *request]
    assert mirrored[1][1] == routing_id and mirrored[1][2:] == reply


@pytest.mark.deadline(60)
def test_an_engine_mirrors_a_direct_request_and_its_reply_to_its_controller_and_drops_garbage(tmp_path):
    """A fake controller: a client's "<session>.direct" socket on the engine's shell gets its
    reply there, and the controller gets a copy of the request, then of the reply."""
    from test_parallel_uplink import _frames_until, _signed
    with _engine_and_direct_peer(tmp_path, b"someone.direct") as (router, key, engine, direct):
        request = _frames_until(router, lambda m: b"registration_request" in m[3])[-1]
        registration = json.loads(request[-1])
        assert registration["connection"]["shell_port"] > 0
        router.send_multipart([request[0], *_signed(key, "registration_reply", {"status": "ok", "id": 0},
                                                    json.loads(request[3]))])
        direct.connect("tcp://127.0.0.1:%d" % registration["connection"]["shell_port"])
        for frames in ([b"<IDS|MSG>"], [b"<IDS|MSG>", b"bad", b"{}", b"{}", b"{}", b"{}"], [b"garbage"]):
            direct.send_multipart(frames)
        execute, reply = _execute_6_times_7(key, direct)
        _assert_mirrored(router, b"someone.direct", execute, reply)  # the request as the client signed it
        # buffers past what the controller keeps are left out of the copy, which says how many bytes
        push = _signed(key, "apply_request", {})
        direct.send_multipart(push + [b"p" * 3000000, b"q" * 1000])
        seen = _frames_until(router, lambda m: m[1].startswith(b"mirror-request"))
        assert seen[-1][1:] == [b"mirror-request:3001000", b"someone.direct", *push]


@pytest.mark.deadline(60)
def test_a_direct_request_answered_before_the_engine_is_registered_is_still_mirrored(tmp_path):
    """A client may reach an engine before the engine has its controller's registration
    reply (they travel on different connections): the copies of its request and reply
    wait for the registration, then go up in order."""
    from test_parallel_uplink import _frames_until, _signed
    with _engine_and_direct_peer(tmp_path, b"early.direct") as (router, key, engine, direct):
        request = _frames_until(router, lambda m: b"registration_request" in m[3])[-1]
        direct.connect("tcp://127.0.0.1:%d" % json.loads(request[-1])["connection"]["shell_port"])
        execute, reply = _execute_6_times_7(key, direct)
        time.sleep(0.2)  # 200 times the copies' usual delay: nothing may go up unregistered
        while router.poll(0):
            assert not router.recv_multipart()[1].startswith(b"mirror-"), "a copy went up before the registration"
        router.send_multipart([request[0], *_signed(key, "registration_reply", {"status": "ok", "id": 0},
                                                    json.loads(request[3]))])
        _assert_mirrored(router, b"early.direct", execute, reply)

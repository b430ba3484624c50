"""Robustness: malformed, forged, replayed, oversized and abandoned requests.

Messages are built by hand and sent on raw pyzmq DEALER sockets to the
kernel's shell ROUTER, using the connection file's key, so that each frame can
be broken on purpose.  After every case the kernel must still answer
kernel_info and execute code, and a forged or broken message must never run
code.
"""

import datetime
import hashlib
import hmac
import json
import time
import uuid

import pytest
import zmq

DELIM = b"<IDS|MSG>"
MAX_MESSAGE_BYTES = 1024 * 1024  # ENSEMBLE_MAX_MESSAGE_BYTES for this module's kernel


class RawShell:
    """A DEALER socket speaking the wire protocol by hand."""

    def __init__(self, kernel, channel="shell"):
        info = kernel.km.get_connection_info()
        self.key = info["key"] if isinstance(info["key"], bytes) else info["key"].encode()
        scheme = info.get("signature_scheme", "hmac-sha256")
        self.digestmod = getattr(hashlib, scheme.split("-", 1)[1])
        self.session = uuid.uuid4().hex
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect("%s://%s:%d" % (info["transport"], info["ip"], info["%s_port" % channel]))

    def close(self):
        self.sock.close(linger=0)
        self.ctx.term()

    def sign(self, *parts):
        if not self.key:
            return b""
        h = hmac.new(self.key, digestmod=self.digestmod)
        for p in parts:
            h.update(p)
        return h.hexdigest().encode()

    def header(self, msg_type, **overrides):
        h = {
            "msg_id": uuid.uuid4().hex,
            "session": self.session,
            "username": "test",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "msg_type": msg_type,
            "version": "5.3",
        }
        h.update(overrides)
        return h

    def frames(self, header, content, parent=None, metadata=None):
        """Correctly signed frames for the given parts (bytes are used as is)."""
        parts = [
            p if isinstance(p, bytes) else json.dumps(p).encode()
            for p in (header, parent or {}, metadata or {}, content)
        ]
        return [DELIM, self.sign(*parts)] + parts

    def request(self, msg_type, content, **header_overrides):
        header = self.header(msg_type, **header_overrides)
        return header["msg_id"], self.frames(header, content)

    def send(self, frames):
        self.sock.send_multipart(frames)

    def recv(self, timeout=5.0):
        """Next message as a dict (signature checked), or None on timeout."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart()
        i = frames.index(DELIM)
        sig, parts = frames[i + 1], frames[i + 2 : i + 6]
        assert hmac.compare_digest(sig, self.sign(*parts)), "kernel reply has a bad signature"
        header, parent, metadata, content = (json.loads(p) for p in parts)
        return {"header": header, "parent_header": parent, "metadata": metadata, "content": content}

    def replies_to(self, msg_id, timeout=5.0):
        """All messages answering ``msg_id`` that arrive within ``timeout``."""
        found = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return found
            msg = self.recv(remaining)
            if msg is None:
                return found
            if msg["parent_header"].get("msg_id") == msg_id:
                found.append(msg)

    def reply_to(self, msg_id, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.recv(max(0.0, deadline - time.monotonic()))
            if msg is not None and msg["parent_header"].get("msg_id") == msg_id:
                return msg
        raise TimeoutError("no reply to %s" % msg_id)


@pytest.fixture(scope="module")
def robust_kernel(start_kernel):
    h = start_kernel(ENSEMBLE_MAX_MESSAGE_BYTES=str(MAX_MESSAGE_BYTES))
    yield h
    h.close()


@pytest.fixture
def kernel(robust_kernel):
    robust_kernel.ensure_running()
    yield robust_kernel
    if not robust_kernel.responsive():
        robust_kernel.hard_restart()


@pytest.fixture
def raw(kernel):
    r = RawShell(kernel)
    yield r
    r.close()


def assert_still_serving(kernel, raw):
    """Answers on the raw socket that sent the bad input, and on the normal client."""
    msg_id, frames = raw.request("kernel_info_request", {})
    raw.send(frames)
    reply = raw.reply_to(msg_id, timeout=10)
    assert reply["header"]["msg_type"] == "kernel_info_reply"
    assert reply["content"]["status"] == "ok"
    kernel.assert_healthy()


def defined(kernel, name):
    return kernel.eval_plain("%r in globals()" % name) == "True"


def execute_content(code):
    return {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": False,
    }


# -- broken framing ---------------------------------------------------------


def _garbage_cases():
    """name -> function(raw, marker_code) -> frames.  ``marker_code`` must never run."""

    def header_bytes(raw, marker, raw_header):
        parts = [raw_header, b"{}", b"{}", json.dumps(execute_content(marker)).encode()]
        return [DELIM, raw.sign(*parts)] + parts

    def with_header(raw, marker, **changes):
        h = raw.header("execute_request")
        for k, v in changes.items():
            if v is None:
                h.pop(k)
            else:
                h[k] = v
        return raw.frames(h, execute_content(marker))

    return {
        "single_garbage_frame": lambda r, m: [b"garbage"],
        "binary_garbage_frames": lambda r, m: [b"\x00\xff\xfe", b"", b"\x80" * 100, b"more"],
        "only_delimiter": lambda r, m: [DELIM],
        "delimiter_and_signature": lambda r, m: [DELIM, r.sign(b"")],
        "missing_content_frames": lambda r, m: r.frames(r.header("execute_request"), execute_content(m))[:4],
        "signed_header_only": lambda r, m: [DELIM, r.sign(json.dumps(r.header("execute_request")).encode()), json.dumps(r.header("execute_request")).encode()],
        "empty_frames": lambda r, m: [b"", b"", b"", b""],
        "no_delimiter": lambda r, m: r.frames(r.header("execute_request"), execute_content(m))[1:],
        "many_frames": lambda r, m: [DELIM, b"x"] + [b"{}"] * 1000,
        "invalid_json_header": lambda r, m: header_bytes(r, m, b'{"msg_id": "abc", "msg_type": '),
        "non_utf8_header": lambda r, m: header_bytes(r, m, b'{"msg_type": "\xff\xfe"}'),
        "header_is_a_list": lambda r, m: header_bytes(r, m, b'["execute_request"]'),
        "header_is_a_number": lambda r, m: header_bytes(r, m, b"42"),
        "header_missing_msg_type": lambda r, m: with_header(r, m, msg_type=None),
        "header_missing_msg_id": lambda r, m: with_header(r, m, msg_id=None),
        "msg_type_not_a_string": lambda r, m: with_header(r, m, msg_type=12345),
        "invalid_json_content": lambda r, m: r.frames(r.header("execute_request"), b'{"code": "%s"' % m.encode()),
        "content_is_a_list": lambda r, m: r.frames(r.header("execute_request"), b'["%s"]' % m.encode()),
    }


GARBAGE = _garbage_cases()


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_kernel_survives_malformed_message(kernel, raw, uniq, case):
    marker = uniq("malformed")
    raw.send(GARBAGE[case](raw, "%s = 1" % marker))
    time.sleep(0.3)
    assert_still_serving(kernel, raw)
    assert not defined(kernel, marker), "code from a malformed message was executed"


@pytest.mark.parametrize(
    "content",
    [
        {"code": 12345},
        {"silent": False},
        {"code": ["print(1)"], "silent": "yes", "user_expressions": []},
        {"code": "1", "user_expressions": {"a": 5}},
    ],
    ids=["code_is_int", "code_missing", "wrong_types", "user_expression_not_string"],
)
def test_kernel_survives_execute_request_with_bad_content(kernel, raw, content):
    msg_id, frames = raw.request("execute_request", content)
    raw.send(frames)
    time.sleep(0.3)
    assert_still_serving(kernel, raw)


@pytest.mark.parametrize(
    "msg_type,content",
    [
        ("complete_request", {"code": None, "cursor_pos": "x"}),
        ("inspect_request", {"code": "len", "cursor_pos": 10**9}),
        ("history_request", {"hist_access_type": "nonsense"}),
        ("is_complete_request", {}),
        ("comm_open", {"target_name": None}),
        ("comm_msg", {}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_kernel_survives_other_requests_with_bad_content(kernel, raw, msg_type, content):
    msg_id, frames = raw.request(msg_type, content)
    raw.send(frames)
    time.sleep(0.3)
    assert_still_serving(kernel, raw)


# -- authentication ---------------------------------------------------------


def test_message_with_bad_signature_is_not_executed(kernel, raw, uniq):
    marker = uniq("forged")
    header = raw.header("execute_request")
    frames = raw.frames(header, execute_content("%s = 1" % marker))
    frames[1] = hmac.new(b"not-the-key", frames[2], hashlib.sha256).hexdigest().encode()
    raw.send(frames)
    replies = raw.replies_to(header["msg_id"], timeout=1.5)
    assert all(r["content"].get("status") != "ok" for r in replies), replies
    assert_still_serving(kernel, raw)
    assert not defined(kernel, marker), "code with a forged signature was executed"


def test_message_with_signature_over_other_content_is_not_executed(kernel, raw, uniq):
    marker = uniq("tampered")
    header = raw.header("execute_request")
    good = raw.frames(header, execute_content("harmless = 1"))
    tampered = good[:5] + [json.dumps(execute_content("%s = 1" % marker)).encode()]
    raw.send(tampered)
    time.sleep(0.5)
    assert_still_serving(kernel, raw)
    assert not defined(kernel, marker)


def test_message_without_signature_is_not_executed(kernel, raw, uniq):
    marker = uniq("unsigned")
    frames = raw.frames(raw.header("execute_request"), execute_content("%s = 1" % marker))
    frames[1] = b""
    raw.send(frames)
    time.sleep(0.5)
    assert_still_serving(kernel, raw)
    assert not defined(kernel, marker)


def test_replayed_message_is_ignored(kernel, raw, uniq):
    counter = uniq("replay")
    header = raw.header("execute_request")
    code = "%s = globals().get(%r, 0) + 1" % (counter, counter)
    frames = raw.frames(header, execute_content(code))
    raw.send(frames)
    first = raw.reply_to(header["msg_id"], timeout=10)
    assert first["content"]["status"] == "ok"
    raw.send(frames)  # byte-identical, same signature
    again = [r for r in raw.replies_to(header["msg_id"], timeout=1.5) if r["header"]["msg_type"] == "execute_reply"]
    assert all(r["content"]["status"] != "ok" for r in again), again
    assert_still_serving(kernel, raw)  # on the same socket: the replay has been dealt with
    assert kernel.eval_plain(counter) == "1", "replayed message was executed again"


# -- unknown message types --------------------------------------------------


@pytest.mark.ensemble_only  # ipykernel logs and drops unknown message types
def test_unknown_message_type_gets_error_reply(kernel, raw):
    msg_id, frames = raw.request("ensemble_bogus_request", {"x": 1})
    raw.send(frames)
    reply = raw.reply_to(msg_id, timeout=5)
    assert reply["content"]["status"] == "error", reply
    assert reply["header"]["msg_type"].endswith("_reply")
    assert_still_serving(kernel, raw)


def test_unknown_message_type_does_not_break_kernel(kernel, raw):
    msg_id, frames = raw.request("ensemble_bogus_request", {"x": 1})
    raw.send(frames)
    time.sleep(0.3)
    assert_still_serving(kernel, raw)


# -- size -------------------------------------------------------------------


@pytest.mark.deadline(90)
def test_kernel_survives_oversized_message(kernel, raw, uniq):
    marker = uniq("big")
    code = "%s = len('%s')" % (marker, "a" * (2 * MAX_MESSAGE_BYTES))
    msg_id, frames = raw.request("execute_request", execute_content(code))
    raw.send(frames)
    raw.replies_to(msg_id, timeout=2.0)
    assert_still_serving(kernel, raw)


@pytest.mark.ensemble_only  # ipykernel has no message size limit
@pytest.mark.deadline(90)
def test_message_over_size_limit_is_rejected_and_smaller_one_runs(kernel, raw, uniq):
    big = uniq("big")
    code = "%s = len('%s')" % (big, "a" * (2 * MAX_MESSAGE_BYTES))
    msg_id, frames = raw.request("execute_request", execute_content(code))
    raw.send(frames)
    replies = raw.replies_to(msg_id, timeout=2.0)
    assert all(r["content"].get("status") != "ok" for r in replies), replies
    # The sender is authentic, so it is told why (docs/protocol.md).
    assert [r["content"].get("ename") for r in replies] == ["MessageTooLarge"], replies
    assert_still_serving(kernel, raw)
    assert not defined(kernel, big), "message over ENSEMBLE_MAX_MESSAGE_BYTES was executed"

    small = uniq("small")
    msg_id, frames = raw.request(
        "execute_request", execute_content("%s = len('%s')" % (small, "b" * (MAX_MESSAGE_BYTES // 2)))
    )
    raw.send(frames)
    assert raw.reply_to(msg_id, timeout=20)["content"]["status"] == "ok"
    assert kernel.eval_plain(small) == str(MAX_MESSAGE_BYTES // 2)


# -- vanished clients -------------------------------------------------------


def test_client_disconnecting_mid_request_does_not_break_kernel(kernel, uniq):
    marker = uniq("abandoned")
    gone = RawShell(kernel)
    try:
        msg_id, frames = gone.request("kernel_info_request", {})
        gone.send(frames)
        gone.reply_to(msg_id)  # connected
        msg_id, frames = gone.request(
            "execute_request", execute_content("import time\ntime.sleep(1)\n%s = 'finished'" % marker)
        )
        gone.send(frames)
        kernel.wait_iopub(  # the kernel has started running it
            lambda m: m["parent_header"].get("msg_id") == msg_id
            and m["header"]["msg_type"] == "execute_input",
            timeout=10,
            start=len(kernel.iopub_log),
        )
    finally:
        gone.close()  # its reply has nowhere to go
    # the abandoned request completes, then ours runs
    assert kernel.eval_plain(marker, timeout=15) == "'finished'"
    kernel.assert_healthy()


def test_many_clients_connecting_and_leaving(kernel):
    for _ in range(20):
        r = RawShell(kernel)
        msg_id, frames = r.request("kernel_info_request", {})
        r.send(frames)
        r.close()
    with_reply = RawShell(kernel)
    try:
        assert_still_serving(kernel, with_reply)
    finally:
        with_reply.close()


def test_replies_go_to_the_requesting_client_only(kernel, raw):
    other = RawShell(kernel)
    try:
        msg_id, frames = raw.request("kernel_info_request", {})
        raw.send(frames)
        assert raw.reply_to(msg_id)["header"]["msg_type"] == "kernel_info_reply"
        assert other.recv(timeout=0.5) is None
    finally:
        other.close()


# -- environment ------------------------------------------------------------


@pytest.mark.ensemble_only  # ENSEMBLE_HISTORY means nothing to ipykernel
def test_unwritable_history_location_does_not_prevent_work(start_kernel):
    k = start_kernel(ENSEMBLE_HISTORY="/proc/nonexistent/x.sqlite")
    try:
        res = k.execute("1 + 1")
        assert res.status == "ok"
        assert [r["data"]["text/plain"] for r in res.results] == ["2"]
        content = k.history(hist_access_type="tail", n=5, raw=True, output=False)
        assert content["status"] == "ok"
        assert isinstance(content["history"], list)
        content = k.history(hist_access_type="search", pattern="1*", raw=True, output=False)
        assert content["status"] == "ok"
        k.assert_healthy()
    finally:
        k.close()


@pytest.mark.ensemble_only  # ipykernel's shell drops replies past ZeroMQ's default high-water mark
@pytest.mark.deadline(120)
def test_a_client_that_reads_its_replies_late_still_gets_every_one(kernel):
    late = RawShell(kernel)
    try:
        sent = set()
        for _ in range(10000):  # sending only: replies pile up past every high-water mark on the way
            msg_id, frames = late.request("kernel_info_request", {})
            late.send(frames)
            sent.add(msg_id)
        received = set()
        while len(received) < len(sent):
            received.add(late.recv(20)["parent_header"]["msg_id"])
        assert received == sent
    finally:
        late.close()
    kernel.assert_healthy()

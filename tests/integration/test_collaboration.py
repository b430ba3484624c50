"""Collaboration and security: CurveZMQ, invitations, roles, revocation.

Each test starts its own encrypted kernel (``ensemble kernel -f FILE`` with
``curve_publickey``/``curve_secretkey`` in FILE) and talks to it through raw
curve clients (curve_client.py).  The owner uses the kernel's own key pair;
other participants join with ``ensemble invite`` and the invitation file it
writes.  The kernel's stderr is kept in a file for the log assertions.
"""

import json
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import zmq
from zmq.utils import z85

from encrypted_kernel import OWNER, PORTS, make_kernel  # noqa: F401  (make_kernel is a fixture)

pytestmark = pytest.mark.ensemble_only
SILENCE = 3.0  # how long "gets no reply" waits

@pytest.fixture
def ek(make_kernel):
    k = make_kernel()
    k.owner()  # started and serving (a startup failure shows here, with the kernel's stderr)
    return k


def usernames(msgs):
    return {m["parent_header"].get("username") for m in msgs}


def refused(reply, role):
    assert reply is not None, "a refused request must still get a reply"
    content = reply["content"]
    assert content["status"] == "error", content
    assert content.get("ename") == "PermissionError", content
    assert role in content.get("evalue", ""), content


def mentions_key(text: str, publickey: str) -> bool:
    return publickey in text or z85.decode(publickey.encode()).hex() in text.lower()


# -- tests ------------------------------------------------------------------


@pytest.mark.deadline(90)
def test_participants_see_each_others_inputs_and_outputs_under_their_own_names(ek):
    owner = ek.owner()
    alice = ek.join("collaborator", "alice")
    oscar = ek.join("observer", "oscar")
    cells = []
    for client, who in ((owner, OWNER), (alice, "alice")):
        text = "hello from %s" % who
        msg_id = client.send_execute("print(%r)" % text)
        reply = client.reply("shell", msg_id, 15)
        assert reply is not None and reply["content"]["status"] == "ok", reply
        assert reply["parent_header"]["username"] == who
        cells.append((msg_id, who, text))
    info = oscar.request("shell", "kernel_info_request")
    assert info is not None and info["parent_header"]["username"] == "oscar"
    for viewer in (owner, alice, oscar):
        for msg_id, who, text in cells:
            msgs = viewer.iopub_for(msg_id)
            assert msgs, "%s saw nothing of %s's cell" % (viewer.session.username, who)
            assert len([m for m in msgs if m["msg_type"] == "execute_input"]) == 1
            assert text in "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
            assert usernames(msgs) == {who}
        assert usernames(viewer.iopub_for(info["parent_header"]["msg_id"])) == {"oscar"}
    assert owner.ping() and alice.ping() and oscar.ping()


@pytest.mark.deadline(90)
def test_observer_cannot_execute_but_may_read(ek):
    owner = ek.owner()
    oscar = ek.join("observer", "oscar")
    marker = "observed_%s" % uuid.uuid4().hex[:8]
    reply = oscar.execute("%s = 1\nprint('ran')" % marker)
    assert reply["header"]["msg_type"] == "execute_reply"
    refused(reply, "observer")
    assert owner.eval("%r in globals()" % marker) == "False", "a refused execute_request ran"
    refused(oscar.request("control", "shutdown_request", {"restart": False}), "observer")
    assert ek.alive()
    allowed = {
        "complete_request": {"code": "pri", "cursor_pos": 3},
        "inspect_request": {"code": "print", "cursor_pos": 5, "detail_level": 0},
        "history_request": {"hist_access_type": "tail", "n": 5, "output": False, "raw": True},
        "is_complete_request": {"code": "for x in y:"},
        "comm_info_request": {},
    }
    for msg_type, content in allowed.items():
        reply = oscar.request("shell", msg_type, content)
        assert reply is not None, "no %s for an observer" % msg_type
        assert reply["header"]["msg_type"] == msg_type.replace("_request", "_reply")
        assert reply["content"]["status"] != "error", (msg_type, reply["content"])  # is_complete: "incomplete"


@pytest.mark.deadline(90)
def test_spoofed_username_is_replaced_by_the_authenticated_one(ek):
    owner = ek.owner()
    alice = ek.join("collaborator", "alice", username="not-alice")
    msg_id = alice.send_execute("print('who am I')", username=OWNER)
    reply = alice.reply("shell", msg_id, 15)
    assert reply is not None and reply["content"]["status"] == "ok", reply
    assert reply["parent_header"]["username"] == "alice"
    assert usernames(owner.iopub_for(msg_id)) == {"alice"}
    assert usernames(alice.iopub_for(msg_id)) == {"alice"}
    # claiming the owner's name grants none of the owner's rights
    refused(alice.request("control", "shutdown_request", {"restart": False}, username=OWNER), "collaborator")
    time.sleep(0.5)
    assert ek.alive()


@pytest.mark.deadline(60)
def test_unknown_key_gets_nothing_and_is_logged(ek):
    owner = ek.owner()
    public, secret = (k.decode() for k in zmq.curve_keypair())
    stranger = ek.client(public, secret, ek.public, "stranger")
    marker = "stranger_%s" % uuid.uuid4().hex[:8]
    assert stranger.request("shell", "kernel_info_request", timeout=SILENCE) is None
    assert stranger.execute("%s = 1" % marker, timeout=1.0) is None
    assert stranger.request("control", "kernel_info_request", timeout=1.0) is None
    assert not stranger.ping(1.0)
    assert stranger.pending("iopub", 0.5) == []
    deadline = time.monotonic() + 5
    while True:
        lines = [l for l in ek.stderr().splitlines() if "unknown" in l.lower() and mentions_key(l, public)]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert lines, "no 'unknown' log line naming %s in:\n%s" % (public, ek.stderr())
    assert owner.eval("%r in globals()" % marker) == "False"


@pytest.mark.deadline(90)
def test_revoke_cuts_a_user_off_without_restarting_the_kernel(ek):
    owner = ek.owner()
    inv = ek.invite("collaborator", "alice")
    alice = ek.client_for(inv)
    assert alice.wait_ready(15), ek.stderr()
    assert owner.execute("state = 41")["content"]["status"] == "ok"
    pid, log_start = ek.proc.pid, len(ek.stderr())
    ek.cli("revoke", "--user", "alice", str(ek.path))
    time.sleep(3)  # "within ~2 s"
    marker = "revoked_%s" % uuid.uuid4().hex[:8]
    assert alice.execute("%s = 1" % marker, timeout=SILENCE) is None, "the revoked user got a reply"
    again = ek.client_for(inv)
    assert again.request("shell", "kernel_info_request", timeout=SILENCE) is None
    alice.pending("iopub")  # what it received before the revocation
    assert owner.wait_ready(15, reconnect=False), "the owner did not get back by itself\n" + ek.stderr()
    assert ek.alive() and ek.proc.pid == pid
    assert owner.eval("state") == "41", "the interpreter was restarted"
    assert owner.eval("%r in globals()" % marker) == "False", "a revoked user's code ran"
    cell = owner.send_execute("print('after the revocation')")
    assert owner.iopub_for(cell), "the owner gets no output after the revocation"
    leaked = [m for m in alice.pending("iopub", 1.0) if m["parent_header"].get("msg_id") == cell]
    assert not leaked, "the revoked user still reads iopub"
    log = ek.stderr()[log_start:]
    assert mentions_key(log, inv["curve_publickey"]) or "alice" in log, "revoked requests not logged:\n" + log


@pytest.mark.deadline(90)
def test_input_request_goes_only_to_the_client_that_asked(ek):
    alice = ek.join("collaborator", "alice")
    bob = ek.join("collaborator", "bob")
    time.sleep(0.5)  # let the stdin sockets finish their handshakes too
    msg_id = alice.send_execute("answer = input('name? ')", allow_stdin=True)
    req = alice.reply("stdin", msg_id, 15)
    assert req is not None and req["msg_type"] == "input_request", "alice got no input_request"
    assert req["content"]["prompt"] == "name? "
    assert req["parent_header"]["username"] == "alice"
    alice.input_reply(req, "alice's answer")
    reply = alice.reply("shell", msg_id, 15)
    assert reply is not None and reply["content"]["status"] == "ok", reply
    assert bob.pending("stdin", 1.0) == [], "bob received alice's input_request"
    assert bob.eval("answer") == repr("alice's answer")


@pytest.mark.deadline(60)
def test_plain_client_gets_no_reply_from_an_encrypted_kernel(ek):
    owner = ek.owner()
    plain = ek.client(None, None, None, OWNER)
    marker = "plain_%s" % uuid.uuid4().hex[:8]
    assert plain.request("shell", "kernel_info_request", timeout=SILENCE) is None
    assert plain.execute("%s = 1" % marker, timeout=1.0) is None
    assert plain.request("control", "kernel_info_request", timeout=1.0) is None
    assert not plain.ping(1.0), "heartbeat answered a plain client"
    assert plain.pending("iopub", 0.5) == []
    assert owner.ping(), "heartbeat does not answer the owner"
    assert owner.eval("%r in globals()" % marker) == "False"


@pytest.mark.deadline(60)
def test_collaborator_cannot_shut_down_and_owner_can(ek):
    owner = ek.owner()
    alice = ek.join("collaborator", "alice")
    reply = alice.request("control", "shutdown_request", {"restart": False})
    assert reply is not None and reply["header"]["msg_type"] == "shutdown_reply"
    refused(reply, "collaborator")
    time.sleep(0.5)
    assert ek.alive(), "a collaborator shut the kernel down"
    assert alice.request("control", "interrupt_request")["content"]["status"] == "ok"
    assert owner.request("shell", "kernel_info_request") is not None
    reply = owner.request("control", "shutdown_request", {"restart": False})
    assert reply is not None and reply["content"]["status"] == "ok", reply
    assert ek.proc.wait(15) == 0


@pytest.mark.deadline(60)
def test_invitation_file_is_private_and_holds_no_kernel_secret(ek, tmp_path):
    ek.owner()
    out = tmp_path / "alice.json"
    inv = ek.invite("collaborator", "alice", out)
    printed = ek.cli("invite", "--role", "observer", "--user", "oscar", str(ek.path))
    printed_path = Path(printed.stdout.strip().splitlines()[-1])
    try:
        for path, user, role in ((out, "alice", "collaborator"), (printed_path, "oscar", "observer")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)
            text = path.read_text()
            assert ek.secret not in text, "the kernel's secret key leaked into %s" % path
            data = json.loads(text)
            assert (data["username"], data["role"]) == (user, role)
            assert data["curve_serverkey"] == ek.public
            assert data["curve_publickey"] != ek.public and data["curve_secretkey"] != ek.secret
            assert zmq.curve_public(data["curve_secretkey"].encode()).decode() == data["curve_publickey"]
            for field in ("transport", "ip", "key", "signature_scheme", *PORTS):
                assert data[field] == ek.conn[field], field
        assert json.loads(printed_path.read_text())["curve_publickey"] != inv["curve_publickey"]
    finally:
        printed_path.unlink(missing_ok=True)
    roster = ek.path.with_name(ek.path.name.replace(".json", ".roster.json"))
    assert roster.exists() and "alice" in roster.read_text() and "oscar" in roster.read_text()
    bad = ek.cli("invite", "--role", "admin", "--user", "eve", str(ek.path), check=False)
    assert bad.returncode != 0, "an unknown role was accepted"


@pytest.mark.deadline(90)
def test_non_loopback_bind_without_keys_is_refused_unless_insecure(make_kernel):
    refused_kernel = make_kernel(ip="0.0.0.0", curve=False)
    try:
        rc = refused_kernel.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("kernel bound 0.0.0.0 without curve keys and kept running")
    assert rc != 0
    assert refused_kernel.stderr().strip(), "refused without a message on stderr"

    insecure = make_kernel(ip="0.0.0.0", curve=False, args=["--insecure"])
    plain = insecure.client(None, None, None, OWNER)
    assert plain.wait_ready(30, alive=insecure.alive), "--insecure kernel not serving\n" + insecure.stderr()

    encrypted = make_kernel(ip="0.0.0.0")
    encrypted.owner()


@pytest.mark.deadline(60)
def test_ports_chosen_by_the_kernel_are_written_back_with_the_curve_keys(make_kernel):
    ek = make_kernel(wait_for_ports=False)
    data = ek.read_back_ports()
    assert all(data.get(p) for p in PORTS), "ports never written back\n" + ek.stderr()
    assert (data.get("curve_publickey"), data.get("curve_secretkey")) == (ek.public, ek.secret)
    ek.owner()
    assert ek.join("collaborator", "alice").execute("1")["content"]["status"] == "ok"

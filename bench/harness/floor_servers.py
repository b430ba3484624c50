"""Calibration servers for the round-trip floors; floors.py runs this file as a child process.

    python3 floor_servers.py echo PARENT_PID     prints its port; libzmq echoes every message
    python3 floor_servers.py kernel PARENT_PID   prints "SHELL_PORT IOPUB_PORT"; a fake kernel

It imports only pyzmq (not the harness package, not jupyter_client): the servers should
cost as little as possible, and start fast.
"""

import ctypes
import json
import os
import signal
import sys

import zmq

DELIM = b"<IDS|MSG>"
LOCALHOST = "tcp://127.0.0.1"


def die_with_parent(parent_pid):
    """Have Linux SIGKILL this process when the harness dies, even by SIGKILL.

    The harness kills its children on every exit it can see; this covers the one it cannot.
    """
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # no prctl: only the harness's own cleanup applies
    if os.getppid() != parent_pid:  # the harness died before prctl took effect
        sys.exit(1)


def serve_echo(ctx):
    """Client + transport floor: zmq.proxy(router, router) sends every message back to its
    sender in C, with no Python in the loop."""
    s = ctx.socket(zmq.ROUTER)
    print(s.bind_to_random_port(LOCALHOST), flush=True)
    zmq.proxy(s, s)


def _static_message(msg_id, msg_type, content):
    """(header, content) bytes of a message built once; no date, no signature is ever computed."""
    header = {"msg_id": msg_id, "msg_type": msg_type, "username": "fake", "session": "fake-kernel",
              "date": "2000-01-01T00:00:00.000000Z", "version": "5.3"}
    return json.dumps(header).encode(), json.dumps(content).encode()


def serve_fake_kernel(ctx):
    """Protocol floor: a kernel that does no work at all.

    One Python thread, a ROUTER shell socket and a PUB iopub socket.  For every request on
    shell it sends at once the four messages every kernel sends for an execute_request:
    iopub status busy, iopub execute_input, the shell execute_reply (routed back with the
    request's identity), iopub status idle.  Header, metadata and content are static bytes
    and the signature is empty (the harness's client checks no HMAC).  The parent header is
    the request's header frame forwarded as received: the client recognises the reply and
    the idle by it, and a real kernel sends the same bytes back (it re-serializes that dict).
    Any request gets this answer, kernel_info_request included (the readiness check only
    looks at parents).
    """
    shell = ctx.socket(zmq.ROUTER)
    iopub = ctx.socket(zmq.PUB)
    for s in (shell, iopub):
        s.setsockopt(zmq.LINGER, 0)
    shell_port = shell.bind_to_random_port(LOCALHOST)
    iopub_port = iopub.bind_to_random_port(LOCALHOST)
    print(shell_port, iopub_port, flush=True)

    status_topic, input_topic = b"kernel.fake.status", b"kernel.fake.execute_input"
    busy_header, busy_content = _static_message("fake-busy", "status", {"execution_state": "busy"})
    input_header, input_content = _static_message("fake-input", "execute_input",
                                                  {"code": "pass", "execution_count": 1})
    reply_header, reply_content = _static_message(
        "fake-reply", "execute_reply",
        {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []})
    idle_header, idle_content = _static_message("fake-idle", "status", {"execution_state": "idle"})
    signature, metadata = b"", b"{}"

    while True:
        request = shell.recv_multipart()
        split = request.index(DELIM)
        routing_ids, parent = request[:split], request[split + 2]
        iopub.send_multipart([status_topic, DELIM, signature, busy_header, parent, metadata, busy_content])
        iopub.send_multipart([input_topic, DELIM, signature, input_header, parent, metadata, input_content])
        shell.send_multipart(routing_ids + [DELIM, signature, reply_header, parent, metadata, reply_content])
        iopub.send_multipart([status_topic, DELIM, signature, idle_header, parent, metadata, idle_content])


SERVERS = {"echo": serve_echo, "kernel": serve_fake_kernel}

if __name__ == "__main__":
    which, parent_pid = sys.argv[1], int(sys.argv[2])
    die_with_parent(parent_pid)
    SERVERS[which](zmq.Context())

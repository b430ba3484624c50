"""The two round-trip floors, timed in the round-trip loop like two more kernels.

- EchoFloor, the client + transport floor: a libzmq echo answers the execute_request
  with the request itself; one message back, no Python on the server side.
- ProtocolFloor, the protocol floor: a fake kernel that does no work but sends the four
  messages every kernel must send per execute (busy, execute_input, execute_reply, idle),
  timed by exactly the same client code as the kernels (metrics.round_trips).

A kernel's round trip minus the protocol floor is roughly what the kernel itself costs;
the protocol floor minus the echo is mostly the client reading three more messages (plus
the fake kernel's four sends from Python).
The servers run as child processes (floor_servers.py), registered for cleanup at start.
"""

import gc
import os
import subprocess
import sys

import zmq
from jupyter_client.session import Session, new_id_bytes

from . import metrics
from .client import KernelClient
from .common import NS, now_ns
from .processes import register_child

SERVER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor_servers.py")


def start_server(which):
    """Launch floor_servers.py `which`; returns (Popen, the first line it printed: its ports)."""
    proc = register_child(subprocess.Popen(
        [sys.executable, SERVER_SCRIPT, which, str(os.getpid())], stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL, start_new_session=True))
    ports = proc.stdout.readline().split()
    if not ports:
        raise RuntimeError(f"{which} server exited (status {proc.wait(timeout=5)}) before printing its port")
    return proc, [int(p) for p in ports]


def new_session():
    """A signing Session like a KernelManager's (its own key); it only serializes requests."""
    return Session(key=new_id_bytes())


class EchoFloor:
    """Client + transport floor for the round trip.

    The client sends the same pre-serialized execute_request as to a kernel and blocks for
    the one echoed reply.  A kernel round trip needs at least a reply plus an iopub idle, so
    this is a lower bound for the client + zmq + TCP cost.
    """

    name = "echo floor"
    label = "zmq echo"  # row label in the console output
    calibration_key = "echo_rtt"
    role = "client + transport floor"

    def __init__(self, ctx):
        self.proc, (port,) = start_server("echo")
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 5000)
        self.sock.connect(f"tcp://127.0.0.1:{port}")
        self.session = new_session()

    def round_trips(self, n):
        reqs = [self.session.serialize(self.session.msg("execute_request", {
            "code": "pass", "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})) for _ in range(n)]
        sock, out = self.sock, []
        gc.collect()
        gc.disable()
        try:
            for frames in reqs:
                t0 = now_ns()
                sock.send_multipart(frames)
                sock.recv_multipart()
                out.append((now_ns() - t0) * NS)
        finally:
            gc.enable()
        return out

    def close(self):
        self.sock.close(linger=0)
        self.proc.kill()
        self.proc.wait()


class ProtocolFloor(KernelClient):
    """Protocol floor: the fake kernel of floor_servers.py behind the kernels' own client.

    It is a KernelClient like processes.Kernel, so round_trips() is metrics.round_trips,
    the loop every kernel is timed with: the difference to a kernel is the kernel's work.
    """

    name = "protocol floor"  # also names it in failure messages (KernelClient.fail)
    label = "protocol"  # row label in the console output
    calibration_key = "protocol_floor_rtt"
    role = "protocol floor: fake kernel, 4 static messages"

    def __init__(self, ctx):
        super().__init__(self.name, ctx)
        self.proc, (shell_port, iopub_port) = start_server("kernel")
        self.connect(new_session(), f"tcp://127.0.0.1:{shell_port}", f"tcp://127.0.0.1:{iopub_port}")
        try:
            self.wait_ready(timeout=10.0)  # until iopub is subscribed, or the first idles are lost
        except Exception:
            self.close()
            raise

    def round_trips(self, n):
        return metrics.round_trips(self, n)

    def close(self):
        self.close_sockets()
        self.proc.kill()
        self.proc.wait()

"""A raw pyzmq Jupyter client that speaks CurveZMQ.

jupyter_client 7 has no curve support, so the collaboration tests talk to an
encrypted kernel through this: DEALER sockets for shell, control and stdin
sharing one routing id, a SUB socket for iopub, a REQ socket for heartbeat
pings, every socket set up as a curve client when keys are given (plain when
they are not).  Messages are signed and checked with
``jupyter_client.session.Session`` and the connection file's HMAC key.

Nothing here raises on silence: ``reply``/``request`` return ``None`` when no
answer arrives in time, because several tests assert exactly that.
"""

import time
import uuid
from typing import Callable, Dict, List, Optional

import zmq
from jupyter_client.session import Session

REQUEST_CHANNELS = ("shell", "control", "stdin")


def _bytes(value) -> bytes:
    return value.encode() if isinstance(value, str) else value


def parent_id(msg: dict) -> Optional[str]:
    return (msg.get("parent_header") or {}).get("msg_id")


class CurveClient:
    def __init__(
        self,
        conn: dict,
        publickey: Optional[str] = None,
        secretkey: Optional[str] = None,
        serverkey: Optional[str] = None,
        username: str = "client",
    ):
        self.conn = dict(conn)
        self.keys = (publickey, secretkey, serverkey)
        self.session = Session(
            key=_bytes(conn.get("key") or b""),
            signature_scheme=conn.get("signature_scheme", "hmac-sha256"),
            username=username,
        )
        self.ctx = zmq.Context()
        self.socks: Dict[str, zmq.Socket] = {}
        self.iopub_log: List[dict] = []
        self._stash: Dict[str, Dict[Optional[str], dict]] = {ch: {} for ch in REQUEST_CHANNELS}
        self.connect()

    # -- sockets -------------------------------------------------------------

    def url(self, channel: str) -> str:
        port = int(self.conn["%s_port" % channel])
        if self.conn.get("transport", "tcp") == "ipc":
            return "ipc://%s-%d" % (self.conn["ip"], port)
        ip = self.conn["ip"]
        if ip in ("0.0.0.0", "*", ""):
            ip = "127.0.0.1"
        return "tcp://%s:%d" % (ip, port)

    def _socket(self, kind: int) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        sock.sndtimeo = 1000  # a refused handshake leaves a DEALER with no peer: send would block
        publickey, secretkey, serverkey = self.keys
        if serverkey is not None:
            sock.curve_serverkey = _bytes(serverkey)
            sock.curve_publickey = _bytes(publickey)
            sock.curve_secretkey = _bytes(secretkey)
        return sock

    def connect(self) -> None:
        self.identity = uuid.uuid4().hex.encode()
        for channel in REQUEST_CHANNELS:
            sock = self._socket(zmq.DEALER)
            sock.identity = self.identity
            sock.connect(self.url(channel))
            self.socks[channel] = sock
        sub = self._socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(self.url("iopub"))
        self.socks["iopub"] = sub

    def _close_sockets(self) -> None:
        for sock in self.socks.values():
            sock.close(linger=0)
        self.socks.clear()

    def reconnect(self) -> None:
        """New sockets (a socket whose handshake was refused never retries)."""
        self._close_sockets()
        self.connect()

    def close(self) -> None:
        self._close_sockets()
        self.ctx.term()

    # -- sending -------------------------------------------------------------

    def send(self, channel: str, msg_type: str, content: dict, parent: Optional[dict] = None, **header) -> str:
        """Send a signed message; ``header`` overrides header fields (e.g. username)."""
        msg = self.session.msg(msg_type, content, parent=parent)
        msg["header"].update(header)
        try:
            self.socks[channel].send_multipart(self.session.serialize(msg))
        except zmq.Again:
            pass  # no connected peer: the message goes nowhere, and no reply will come
        return msg["header"]["msg_id"]

    def send_execute(self, code: str, allow_stdin: bool = False, **header) -> str:
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": allow_stdin,
            "stop_on_error": True,
        }
        return self.send("shell", "execute_request", content, **header)

    def input_reply(self, input_request: dict, value: str) -> None:
        self.send("stdin", "input_reply", {"value": value}, parent=input_request)

    # -- receiving -----------------------------------------------------------

    def recv(self, channel: str, timeout: float) -> Optional[dict]:
        sock = self.socks[channel]
        if not sock.poll(int(max(0.0, timeout) * 1000)):
            return None
        _, parts = self.session.feed_identities(sock.recv_multipart())
        return self.session.deserialize(parts)

    def reply(self, channel: str, msg_id: str, timeout: float = 10.0) -> Optional[dict]:
        """The message on ``channel`` whose parent is ``msg_id`` (others are stashed)."""
        stash = self._stash[channel]
        deadline = time.monotonic() + timeout
        while msg_id not in stash:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            msg = self.recv(channel, remaining)
            if msg is not None:
                stash[parent_id(msg)] = msg
        return stash.pop(msg_id)

    def request(self, channel: str, msg_type: str, content: Optional[dict] = None,
                timeout: float = 10.0, **header) -> Optional[dict]:
        return self.reply(channel, self.send(channel, msg_type, content or {}, **header), timeout)

    def execute(self, code: str, timeout: float = 15.0, **header) -> Optional[dict]:
        return self.reply("shell", self.send_execute(code, **header), timeout)

    def eval(self, expr: str, timeout: float = 15.0) -> str:
        """text/plain repr of ``expr`` through user_expressions."""
        content = {"code": "", "silent": True, "store_history": False,
                   "user_expressions": {"v": expr}, "allow_stdin": False}
        reply = self.request("shell", "execute_request", content, timeout)
        assert reply is not None, "no reply evaluating %r" % expr
        value = reply["content"]["user_expressions"]["v"]
        assert value["status"] == "ok", value
        return value["data"]["text/plain"]

    def pending(self, channel: str, timeout: float = 0.0) -> List[dict]:
        """Everything received or stashed on ``channel`` within ``timeout``."""
        stash = self._stash.get(channel, {})
        found = list(stash.values())
        stash.clear()
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(channel, deadline - time.monotonic())
            if msg is None:
                return found
            found.append(msg)

    # -- iopub ---------------------------------------------------------------

    def wait_iopub(self, predicate: Callable[[dict], bool], timeout: float = 10.0) -> Optional[dict]:
        for msg in self.iopub_log:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv("iopub", deadline - time.monotonic())
            if msg is None:
                return None
            self.iopub_log.append(msg)
            if predicate(msg):
                return msg

    def iopub_for(self, msg_id: str, timeout: float = 10.0) -> List[dict]:
        """IOPub messages of one request, up to its 'idle' status ([] if it never comes)."""
        idle = self.wait_iopub(
            lambda m: parent_id(m) == msg_id
            and m["header"]["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle",
            timeout,
        )
        return [m for m in self.iopub_log if parent_id(m) == msg_id] if idle else []

    # -- readiness -----------------------------------------------------------

    def wait_ready(self, timeout: float = 30.0, reconnect: bool = True,
                   alive: Callable[[], bool] = lambda: True) -> bool:
        """kernel_info answered on shell and its status seen on iopub.

        With ``reconnect`` the sockets are renewed after each failed attempt
        (e.g. a handshake refused before an invitation reached the kernel).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            msg_id = self.send("shell", "kernel_info_request", {})
            if self.reply("shell", msg_id, 2.0) is not None:
                if self.wait_iopub(lambda m: parent_id(m) == msg_id, 2.0) is not None:
                    return True
            elif reconnect:
                self.reconnect()
        return False

    def ping(self, timeout: float = 3.0) -> bool:
        """Heartbeat echo through a fresh REQ socket with this client's keys."""
        sock = self._socket(zmq.REQ)
        try:
            sock.connect(self.url("hb"))
            try:
                sock.send(b"ping")
            except zmq.Again:
                return False
            return bool(sock.poll(int(timeout * 1000))) and sock.recv() == b"ping"
        finally:
            sock.close(linger=0)

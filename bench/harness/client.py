"""The minimal Jupyter client all timings go through.

jupyter_client.session.Session only signs the pre-serialized requests; replies are read
with raw pyzmq recv_multipart and classified by byte-substring checks (no HMAC
verification, no date parsing, JSON decoding only where needed, mostly after the timer
stopped).  Waiting is a blocking zmq recv/poll, never a sleep.

The same class serves the real kernels (processes.Kernel) and the fake kernel of the
protocol floor (floors.ProtocolFloor), so both are timed by identical code.
"""

import json
import time

import zmq

from .common import KernelFailed, log_tail, now_ns

DELIM = b"<IDS|MSG>"  # separates routing ids from [signature, header, parent, metadata, content]


class KernelClient:
    """Shell (DEALER) and iopub (SUB) sockets to one kernel-like peer, and how to talk to it.

    Subclasses own the peer process: they set `proc` (a Popen-like object, None before it
    exists) and may set `log_path` (its output, quoted when it fails).
    """

    proc = None
    log_path = None

    def __init__(self, name, ctx):
        self.name = name
        self.ctx = ctx
        self.session = None
        self.shell = self.iopub = None
        self.poller = None

    # -- connection

    def connect(self, session, shell_url, iopub_url):
        self.session = session
        self.shell = self.ctx.socket(zmq.DEALER)
        self.shell.setsockopt(zmq.IDENTITY, session.bsession)
        self.iopub = self.ctx.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        for s in (self.shell, self.iopub):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVHWM, 0)  # never drop: the client drains into an unbounded queue
            s.setsockopt(zmq.SNDHWM, 0)
            s.setsockopt(zmq.RECONNECT_IVL, 2)  # ms; default 100 ms would quantise startup
            s.setsockopt(zmq.RCVTIMEO, 250)  # blocking recv wakes up to check liveness/deadline
        self.shell.connect(shell_url)
        self.iopub.connect(iopub_url)
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)

    def close_sockets(self):
        for s in (self.shell, self.iopub):
            if s is not None:
                s.close(linger=0)
        self.shell = self.iopub = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def fail(self, what):
        state = "alive" if self.alive() else f"dead (exit {self.proc.poll()})"
        tail = log_tail(self.log_path) if self.log_path else ""
        raise KernelFailed(f"{self.name}: {what}; kernel {state}\n{tail}")

    # -- messages

    def request(self, msg_type, content):
        """Pre-serialize one request: (msg_id bytes, wire frames)."""
        msg = self.session.msg(msg_type, content)
        return msg["header"]["msg_id"].encode(), self.session.serialize(msg)

    def execute_request(self, code):
        return self.request("execute_request", {
            "code": code, "silent": False, "store_history": True,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True,
        })

    def drain(self):
        """Discard anything already queued (late output of a previous request)."""
        for s in (self.shell, self.iopub):
            while True:
                try:
                    s.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break

    def recv_parts(self, sock, deadline):
        """Blocking receive (wakes every RCVTIMEO to check the kernel); the parts after the signature."""
        while True:
            try:
                m = sock.recv_multipart()
                return m[m.index(DELIM) + 2:]
            except zmq.Again:
                if not self.alive():
                    self.fail("kernel process exited")
                if time.monotonic() > deadline:
                    self.fail("timeout waiting for a reply")

    def collect(self, n_replies, idle_mid, timeout, keep_iopub=False, idle_grace=None):
        """Receive until `n_replies` shell replies and iopub status idle whose parent is idle_mid.

        Returns (t_last_reply_ns, t_idle_ns, replies, iopub) where replies / iopub are
        lists of [header, parent, metadata, content, ...] raw frames (iopub only if kept).
        Shell replies are counted, not matched, in the hot loop (callers drain first and
        verify parents afterwards).  With idle_grace, a kernel that has replied but then
        sends nothing on iopub for idle_grace seconds without the idle gets t_idle None
        (a lost idle) instead of a timeout.
        """
        shell, iopub, poll = self.shell, self.iopub, self.poller.poll
        NOBLOCK, Again = zmq.NOBLOCK, zmq.Again
        replies, kept = [], []
        t_reply = t_idle = None
        deadline = time.monotonic() + timeout
        quiet_since = None
        while t_reply is None or t_idle is None:
            events = poll(250)
            if not events:
                if not self.alive():
                    self.fail("kernel process exited")
                if idle_grace is not None and t_reply is not None:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > idle_grace:
                        return t_reply, None, replies, kept
                if time.monotonic() > deadline:
                    self.fail(f"timeout after {timeout:.0f}s ({len(replies)}/{n_replies} replies, "
                              f"idle {'seen' if t_idle else 'not seen'})")
                continue
            quiet_since = None
            for sock, _ in events:
                if sock is shell:
                    while True:
                        try:
                            m = shell.recv_multipart(NOBLOCK)
                        except Again:
                            break
                        replies.append(m[m.index(DELIM) + 2:])
                        if len(replies) == n_replies:
                            t_reply = now_ns()
                else:
                    while True:
                        try:
                            m = iopub.recv_multipart(NOBLOCK)
                        except Again:
                            break
                        parts = m[m.index(DELIM) + 2:]
                        if keep_iopub:
                            kept.append(parts)
                        if (t_idle is None and b'"status"' in parts[0] and idle_mid in parts[1]
                                and b"idle" in parts[3]):
                            t_idle = now_ns()
            if time.monotonic() > deadline:
                self.fail(f"timeout after {timeout:.0f}s")
        return t_reply, t_idle, replies, kept

    def check_replies(self, replies, mids, what):
        """Fail unless every reply answers one of `mids` with status ok (run after the timer)."""
        want = set(mids)
        for r in replies:
            parent = json.loads(r[1])
            content = json.loads(r[3])
            if parent.get("msg_id", "").encode() not in want:
                self.fail(f"{what}: reply to unexpected parent {parent.get('msg_id')!r}")
            if content.get("status") != "ok":
                self.fail(f"{what}: reply status {content.get('status')!r}: "
                          f"{content.get('ename')} {content.get('evalue')}")

    def wait_ready(self, timeout=60.0):
        """kernel_info until a reply arrives AND iopub is live (a status for one of ours seen).

        Seeing our own iopub message proves the SUB subscription has reached the kernel;
        until then a PUB socket silently drops what it sends.
        """
        deadline = time.monotonic() + timeout
        mids = []
        got_reply = got_iopub = False
        while not (got_reply and got_iopub):
            mid, frames = self.request("kernel_info_request", {})
            mids.append(mid)
            self.shell.send_multipart(frames)
            resend = time.monotonic() + 0.5
            while not (got_reply and got_iopub) and time.monotonic() < resend:
                if time.monotonic() > deadline:
                    self.fail("not ready: no kernel_info_reply plus iopub status")
                events = dict(self.poller.poll(100))
                if not events and not self.alive():
                    self.fail("kernel process exited during startup")
                for sock in events:
                    m = sock.recv_multipart()
                    parent = m[m.index(DELIM) + 3]
                    if any(x in parent for x in mids):
                        if sock is self.shell:
                            got_reply = True
                        else:
                            got_iopub = True
        # let the idle of the last kernel_info arrive, then start clean
        t_end = time.monotonic() + 0.2
        while time.monotonic() < t_end and self.iopub.poll(50):
            self.iopub.recv_multipart()
        self.drain()

"""An encrypted ``ensemble kernel`` started from a connection file with curve keys, for tests."""

import json
import os
import pwd
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import zmq

from conftest import ENSEMBLE_BIN
from curve_client import CurveClient

OWNER = pwd.getpwuid(os.getuid()).pw_name
PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


class EncryptedKernel:
    """One ``ensemble kernel -f FILE`` process, its files and its clients."""

    def __init__(self, workdir: Path, env: dict, ip="127.0.0.1", curve=True, args=(), wait_for_ports=True,
                 launcher=()):
        """``launcher`` prefixes the command line (``ip netns exec NS`` runs the kernel on another "host").

        The kernel binds port 0 and writes the ports it got back into its file: a port picked here and
        freed before the kernel binds it can be taken by anything else in between (a CI run lost a test
        to that). ``wait_for_ports`` waits for them, unless the kernel exits first."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = env
        public, secret = zmq.curve_keypair()
        self.public, self.secret = public.decode(), secret.decode()
        self.path = workdir / "kernel-collab.json"
        self.conn = dict(transport="tcp", ip=ip, key=uuid.uuid4().hex,
                         signature_scheme="hmac-sha256", kernel_name="ensemble", **{p: 0 for p in PORTS})
        if curve:
            self.conn.update(curve_publickey=self.public, curve_secretkey=self.secret)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.conn, f, indent=1)
        self.stderr_path = workdir / "kernel.stderr"
        self.clients = []
        with open(workdir / "kernel.stdout", "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([*launcher, str(ENSEMBLE_BIN), "kernel", *args, "-f", str(self.path)],
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        if wait_for_ports:
            self.read_back_ports()

    def read_back_ports(self, timeout=30) -> dict:
        """The connection file once the kernel has written its ports in, or ``{}`` if it exited first."""
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            try:
                data = json.loads(self.path.read_text())
            except ValueError:  # caught mid-write
                data = {}
            if all(data.get(p) for p in PORTS):
                self.conn.update({p: data[p] for p in PORTS})
                return data
            time.sleep(0.05)
        assert not self.alive(), "the kernel never wrote its ports back\n" + self.stderr()
        return {}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def cli(self, *args, check=True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(ENSEMBLE_BIN), *args], capture_output=True, text=True, env=self.env, timeout=30)
        if check:
            assert proc.returncode == 0, "ensemble %s: rc=%d\n%s%s" % (args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def client(self, publickey, secretkey, serverkey, username, conn=None) -> CurveClient:
        c = CurveClient(conn or self.conn, publickey, secretkey, serverkey, username=username)
        self.clients.append(c)
        return c

    def owner(self) -> CurveClient:
        c = self.client(self.public, self.secret, self.public, OWNER)
        assert c.wait_ready(30, alive=self.alive), "owner cannot reach the kernel\n" + self.stderr()
        return c

    def invite(self, role: str, user: str, out: Path = None) -> dict:
        out = out or self.path.with_name("invite-%s.json" % user)
        self.cli("invite", "--role", role, "--user", user, "-o", str(out), str(self.path))
        return json.loads(out.read_text())

    def client_for(self, inv: dict, username=None) -> CurveClient:
        return self.client(inv["curve_publickey"], inv["curve_secretkey"], inv["curve_serverkey"],
                           username or inv["username"], conn=inv)

    def join(self, role: str, user: str, username=None) -> CurveClient:
        """Invite ``user`` and connect as them (retrying until the kernel has re-read its roster)."""
        c = self.client_for(self.invite(role, user), username)
        assert c.wait_ready(15, alive=self.alive), "%s (%s) cannot join\n%s" % (user, role, self.stderr())
        return c

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)




@pytest.fixture
def make_kernel(kernel_target, tmp_path):
    kernels = []

    def _make(**kwargs) -> EncryptedKernel:
        n = len(kernels)
        k = EncryptedKernel(tmp_path / ("k%d" % n), kernel_target.kernel_env(tmp_path / ("state%d" % n)), **kwargs)
        kernels.append(k)
        return k

    yield _make
    for k in kernels:
        k.stop()

#!/usr/bin/python3
"""CurveZMQ's cost: the same Ensemble kernel encrypted and plain, in one run.

Round trip of `pass` (reply and idle) and pipelined throughput, through a raw
pyzmq client, interleaved in blocks so noise hits both alike.

    bench/curve_bench.py [--rounds N] [--pipe K]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import zmq
from jupyter_client.session import Session

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENSEMBLE = os.environ.get("ENSEMBLE_BIN", os.path.join(REPO, "build", "bin", "ensemble"))
CHANNELS = ("shell", "iopub", "stdin", "control", "hb")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Kernel:
    def __init__(self, workdir, encrypted):
        self.encrypted = encrypted
        self.conn = {"transport": "tcp", "ip": "127.0.0.1", "key": os.urandom(16).hex(),
                     "signature_scheme": "hmac-sha256"}
        self.conn.update({c + "_port": free_port() for c in CHANNELS})
        if encrypted:
            public, secret = zmq.curve_keypair()
            self.conn.update(curve_publickey=public.decode(), curve_secretkey=secret.decode())
        path = os.path.join(workdir, "kernel-%s.json" % ("curve" if encrypted else "plain"))
        with open(path, "w") as f:
            json.dump(self.conn, f)
        self.proc = subprocess.Popen([ENSEMBLE, "kernel", "-f", path, "--history", ":memory:"],
                                     stderr=subprocess.DEVNULL)
        self.ctx = zmq.Context()
        self.session = Session(key=self.conn["key"].encode())
        self.shell = self._socket(zmq.DEALER, "shell")
        self.iopub = self._socket(zmq.SUB, "iopub")
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self._wait_ready()

    def _socket(self, kind, channel):
        s = self.ctx.socket(kind)
        s.linger = 0
        if self.encrypted:
            s.curve_serverkey = self.conn["curve_publickey"].encode()
            s.curve_publickey = self.conn["curve_publickey"].encode()
            s.curve_secretkey = self.conn["curve_secretkey"].encode()
        s.connect("tcp://127.0.0.1:%d" % self.conn[channel + "_port"])
        return s

    def _wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.session.send(self.shell, "kernel_info_request", {})
            if self.shell.poll(500) and self.iopub.poll(500):
                self.shell.recv_multipart()
                while self.iopub.poll(50):
                    self.iopub.recv_multipart()
                return
        raise RuntimeError("kernel not ready")

    def execute(self):
        self.session.send(self.shell, "execute_request", {"code": "pass", "silent": False, "store_history": True,
                                                         "user_expressions": {}, "allow_stdin": False})

    def wait_idle(self):
        while True:
            frames = self.iopub.recv_multipart()
            if b'"idle"' in frames[-1]:
                return

    def round_trip(self):
        start = time.perf_counter()
        self.execute()
        self.shell.recv_multipart()
        self.wait_idle()
        return time.perf_counter() - start

    def pipelined(self, k):
        start = time.perf_counter()
        for _ in range(k):
            self.execute()
        for _ in range(k):
            self.shell.recv_multipart()
        idles = 0
        while idles < k:
            if b'"idle"' in self.iopub.recv_multipart()[-1]:
                idles += 1
        return k / (time.perf_counter() - start)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.ctx.destroy(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--pipe", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kernels = {"plain": Kernel(tmp, False), "curve": Kernel(tmp, True)}
        try:
            rtt = {name: [] for name in kernels}
            for block in range(args.rounds // 100):
                for name, kernel in (list(kernels.items()) if block % 2 else list(kernels.items())[::-1]):
                    rtt[name] += [kernel.round_trip() for _ in range(100)]
            pipe = {name: [] for name in kernels}
            for rep in range(3):
                for name, kernel in kernels.items():
                    pipe[name].append(kernel.pipelined(args.pipe))
        finally:
            for kernel in kernels.values():
                kernel.close()
    plain_rtt, curve_rtt = statistics.median(rtt["plain"]) * 1e6, statistics.median(rtt["curve"]) * 1e6
    plain_pipe, curve_pipe = statistics.median(pipe["plain"]), statistics.median(pipe["curve"])
    print("| metric | plain | curve | curve cost |")
    print("|---|---:|---:|---:|")
    print("| round trip `pass`, median [µs] | %.1f | %.1f | %.2f× |" % (plain_rtt, curve_rtt, curve_rtt / plain_rtt))
    print("| pipelined [req/s] | %.0f | %.0f | %.2f× |" % (plain_pipe, curve_pipe, plain_pipe / curve_pipe))
    return 0


if __name__ == "__main__":
    sys.exit(main())

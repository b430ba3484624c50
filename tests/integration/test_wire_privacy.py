"""What crosses the wire: through a recording TCP proxy, an encrypted kernel's
traffic never shows a cell's text or output, while a plain kernel's does
(which proves the proxy records what it forwards)."""

import select
import socket
import threading
import uuid

import pytest

from test_collaboration import PORTS, make_kernel  # noqa: F401  (fixture)

pytestmark = pytest.mark.ensemble_only


class RecordingProxy:
    """Listens on a free port per channel and forwards to the kernel's, keeping every byte."""

    def __init__(self, target_ip, target_ports):
        self.recorded = bytearray()
        self.lock = threading.Lock()
        self.stopping = False
        self.listeners = []
        self.ports = {}
        for name, port in target_ports.items():
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            self.listeners.append(listener)
            self.ports[name] = listener.getsockname()[1]
            threading.Thread(target=self._accept, args=(listener, target_ip, port), daemon=True).start()

    def _accept(self, listener, ip, port):
        while not self.stopping:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((ip, port))
            except OSError:  # the kernel is not listening yet: ZeroMQ will retry
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a, b):
        sockets = [a, b]
        try:
            while not self.stopping:
                readable, _, _ = select.select(sockets, [], [], 0.2)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    with self.lock:
                        self.recorded += data
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def close(self):
        self.stopping = True
        for listener in self.listeners:
            listener.close()

    def saw(self, text):
        with self.lock:
            return text.encode() in self.recorded


def run_marked_cell(kernel, proxy, encrypted):
    conn = dict(kernel.conn)
    conn.update(proxy.ports)
    marker = "secret-" + uuid.uuid4().hex
    keys = (kernel.public, kernel.secret, kernel.public) if encrypted else (None, None, None)
    client = kernel.client(*keys, "owner", conn=conn)
    assert client.wait_ready(30, alive=kernel.alive), kernel.stderr()
    reply = client.execute("text = %r\nprint(text.upper())\ntext" % marker)
    assert reply is not None and reply["content"]["status"] == "ok"
    return marker


@pytest.mark.deadline(90)
@pytest.mark.parametrize("encrypted", [True, False])
def test_cell_text_and_output_cross_the_wire_only_in_ciphertext(make_kernel, encrypted):  # noqa: F811
    kernel = make_kernel(curve=encrypted)
    proxy = RecordingProxy("127.0.0.1", {name: kernel.conn[name] for name in PORTS})
    try:
        marker = run_marked_cell(kernel, proxy, encrypted)
        seen = proxy.saw(marker) or proxy.saw(marker.upper())
        assert seen is not encrypted, "encrypted" if encrypted else "the proxy did not record plain traffic"
    finally:
        proxy.close()

"""Fixtures for the parallel API's unit tests: a Client on the fake core."""

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))

import fake_core  # noqa: E402


@pytest.fixture
def client_file(tmp_path):
    info = {"transport": "tcp", "ip": "127.0.0.1", "client_port": 1, "iopub_port": 2,
            "key": "k", "signature_scheme": "hmac-sha256", "cluster_id": "",
            "controller_pid": 0}
    path = tmp_path / "ipcontroller-client.json"
    path.write_text(json.dumps(info))
    return str(path)


@pytest.fixture
def fake_engines(monkeypatch):
    """Number of fake engines for `rc`; parametrize indirectly to change it."""
    return 4


@pytest.fixture
def rc(monkeypatch, client_file, fake_engines):
    from ensemble.client import client as client_module

    made = []

    def make(text, timeout):
        conn = fake_core.FakeConnection(text, "", timeout, engines=fake_engines)
        made.append(conn)
        return conn

    monkeypatch.setattr(client_module, "_make_connection", make)
    import ensemble as ipp

    c = ipp.Client(client_file)
    c.fake = made[0]
    yield c
    c.close()


@pytest.fixture
def rc_factory(monkeypatch, client_file):
    """Make more clients on fresh fake clusters (closed by the test)."""
    from ensemble.client import client as client_module

    monkeypatch.setattr(client_module, "_make_connection",
                        lambda text, timeout: fake_core.FakeConnection(text, "", timeout))
    import ensemble as ipp

    return lambda: ipp.Client(client_file)

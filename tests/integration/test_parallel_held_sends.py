"""A client holds back a request that follows another within its send window
(corked_sender.hpp; ENSEMBLE_SEND_WINDOW_US, default 200 µs), so that a burst of
submissions leaves together; whatever then waits for them, or a lone request,
sends at once, and nothing stays held past the window."""

import os
import time

import numpy as np
import pytest

import ensemble as ipp
from cluster_util import cluster, wait_until  # noqa: F401 (cluster: a fixture)

pytestmark = pytest.mark.ensemble_only

LONG_WINDOW_US = "30000000"  # 30 s: every request of a test comes within the window of the one before


def _touch(path):
    with open(path, "w"):
        pass
    return path


def _held_client(c, monkeypatch):
    """A client whose connection holds requests back for 30 s (read when it connects)."""
    monkeypatch.setenv("ENSEMBLE_SEND_WINDOW_US", LONG_WINDOW_US)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    monkeypatch.delenv("ENSEMBLE_SEND_WINDOW_US")
    rc.wait_for_engines(1)
    return rc


def _ran_soon(path, seconds=0.5):
    return wait_until(lambda: os.path.exists(path), seconds, interval=0.02)


def _held_task(lview, path):
    """A task sent within the window of the request before it: held (checked)."""
    ar = lview.apply_async(_touch, path)
    assert not _ran_soon(path), "held for the window"
    return ar


@pytest.mark.deadline(60)
def test_a_burst_of_tasks_nobody_waits_for_still_leaves(cluster, tmp_path):
    c = cluster(n=2)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(2)
        lview = rc.load_balanced_view()
        paths = [str(tmp_path / ("task%d" % i)) for i in range(20)]
        for path in paths:
            lview.apply_async(_touch, path)  # back to back: all but the first are held
        assert wait_until(lambda: all(os.path.exists(p) for p in paths), 10, interval=0.02)
    finally:
        rc.close()


@pytest.mark.deadline(90)
def test_what_waits_for_a_held_request_sends_it_at_once(cluster, tmp_path, monkeypatch):
    c = cluster(n=1)
    rc = _held_client(c, monkeypatch)
    try:
        lview = rc.load_balanced_view()
        path = str(tmp_path / "wait_for_send")
        _held_task(lview, path).wait_for_send()
        assert _ran_soon(path, 5)

        path = str(tmp_path / "get")
        ar = _held_task(lview, path)
        started = time.monotonic()
        assert ar.get(10) == path
        assert time.monotonic() - started < 2.5

        path = str(tmp_path / "queue_status")
        _held_task(lview, path)
        rc.queue_status()  # a controller request goes after the held one, and is waited for
        assert _ran_soon(path, 5)

        path = str(tmp_path / "close")
        _held_task(lview, path)
        rc.close()  # sends what it holds: those requests were made before
        assert _ran_soon(path, 5)
    finally:
        rc.close()


@pytest.mark.deadline(60)
def test_a_request_with_large_buffers_is_never_held(cluster, tmp_path, monkeypatch):
    # Its buffers are sent without a copy, from the caller's memory: it leaves
    # at once, taking the held ones along.
    c = cluster(n=1)
    rc = _held_client(c, monkeypatch)
    try:
        lview = rc.load_balanced_view()
        path = str(tmp_path / "held")
        _held_task(lview, path)
        ar = lview.apply_async(lambda a: float(a.sum()), np.ones(1 << 17))  # 1 MiB
        assert _ran_soon(path, 2)
        assert ar.get(10) == float(1 << 17)
    finally:
        rc.close()

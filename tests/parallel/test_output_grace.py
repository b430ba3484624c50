"""Metadata read once a result is in waits a little for its outputs (asyncresult.py,
_outputs_in): once, so outputs that never come cost one grace, not one per read."""

import time

from ensemble.client import asyncresult
from ensemble.client.futures import MessageFuture
from ensemble.client.metadata import request_metadata


def test_outputs_that_never_come_cost_one_grace_not_one_per_read(rc, monkeypatch):
    monkeypatch.setattr(asyncresult, "_OUTPUT_GRACE", 0.3)
    future = MessageFuture("never-outputs", request_metadata("never-outputs", None, None), 0)
    ar = asyncresult.AsyncResult(rc, future, fname="f")
    started = time.monotonic()
    assert ar.stdout == ""  # no result yet: at once
    assert time.monotonic() - started < 0.2
    future.set_result(5)  # the result, and no outputs after it
    assert ar.get(1) == 5
    started = time.monotonic()
    assert ar.stdout == ""
    first = time.monotonic() - started
    started = time.monotonic()
    assert ar["stderr"] == "" and ar.metadata["stdout"] == ""
    again = time.monotonic() - started
    assert 0.25 < first < 2 and again < 0.2, (first, again)

"""An engine's become_dask_worker when the worker's start never ends: it gives up shortly
after the death_timeout it was given (not after its 60 s limit), says so, closes what it
made, and leaves no loop thread behind."""

import asyncio
import threading
import time

import distributed  # python3-distributed: scripts/install-deps.sh installs it
import pytest

from ensemble._engine import dask_worker


class StuckWorker:
    """A worker whose start ignores its death_timeout."""

    made = []

    def __init__(self, address, **kwargs):
        self.closed = False
        StuckWorker.made.append(self)

    def __await__(self):
        return asyncio.sleep(3600).__await__()

    async def close(self):
        self.closed = True


def test_a_start_that_ignores_death_timeout_fails_soon_after_it_and_closes_the_worker(monkeypatch):
    monkeypatch.setattr(distributed, "Worker", StuckWorker)
    monkeypatch.setattr(dask_worker, "DEATH_TIMEOUT_GRACE_SECONDS", 0.3)
    monkeypatch.setattr(dask_worker, "_running", None)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not start .* within 0.8 s"):
        dask_worker.become_dask_worker("tcp://127.0.0.1:9", death_timeout=0.5)
    assert time.monotonic() - started < 10, "waited for its death_timeout and the grace, not 60 s"
    assert StuckWorker.made and StuckWorker.made[-1].closed
    assert not [t for t in threading.enumerate() if t.name == "dask-worker"]
    assert dask_worker._running is None


class TimingOutWorker(StuckWorker):
    """A worker that gives up on its own, as one does after its death_timeout."""

    def __await__(self):
        async def fail():
            raise TimeoutError("Worker start timed out after 1s.")

        return fail().__await__()


def test_a_worker_giving_up_on_its_own_is_raised_with_its_own_message(monkeypatch):
    monkeypatch.setattr(distributed, "Worker", TimingOutWorker)
    monkeypatch.setattr(dask_worker, "_running", None)
    with pytest.raises(TimeoutError, match="^Worker start timed out after 1s.$"):
        dask_worker.become_dask_worker("tcp://127.0.0.1:9", death_timeout=1)
    assert not [t for t in threading.enumerate() if t.name == "dask-worker"]

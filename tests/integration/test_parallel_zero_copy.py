"""Large buffers cross an engine without a copy: a pushed array stays in the ZeroMQ frame
it arrived in, and a pulled one is sent from the array's own memory. Measured by the
engine's peak RSS (VmHWM, reset before each), which a second copy of the array would raise
by its size."""

import os
import time

import numpy as np
import pytest

import ensemble as ipp  # noqa: F401
from parallel_fixtures import rc, started  # noqa: F401

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]

SIZE = 128 << 20  # bytes


def reset_peak(pid):
    """VmHWM starts again from the current RSS (Linux: 5 > clear_refs)."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


def status_mib(pid, field):
    """A size field of /proc/PID/status (VmHWM, VmRSS) in MiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no %s for %d" % (field, pid))


def peak_mib(pid):
    return status_mib(pid, "VmHWM")


@pytest.fixture
def engine(rc):
    view = rc[0]
    yield view, view.apply_sync(os.getpid)
    view.execute("zero_copy_in = zero_copy_out = zero_copy_sum = None", block=True)


def test_a_pushed_array_is_not_copied_on_the_engine_and_stays_writable(engine):
    view, pid = engine
    data = np.ones(SIZE // 8)
    reset_peak(pid)
    before = peak_mib(pid)
    view.push({"zero_copy_in": data}, block=True)
    grown = peak_mib(pid) - before
    assert grown < 1.5 * (SIZE >> 20), "the engine holds %.0f MiB more: a copy" % grown
    view.execute("zero_copy_in[0] = 7.0\nzero_copy_sum = float(zero_copy_in[0] + zero_copy_in[1])", block=True)
    assert view.pull("zero_copy_sum", block=True) == 8.0


def test_a_pulled_array_is_sent_from_its_own_memory(engine):
    view, pid = engine
    view.execute("import numpy\nzero_copy_out = numpy.full(%d, 3.0)" % (SIZE // 8), block=True)
    reset_peak(pid)
    before = peak_mib(pid)
    back = view.pull("zero_copy_out", block=True)
    grown = peak_mib(pid) - before
    assert back.shape == (SIZE // 8,) and back[0] == back[-1] == 3.0
    assert grown < 0.5 * (SIZE >> 20), "the engine held %.0f MiB more to send it: a copy" % grown


def rss_mib(pid):
    return status_mib(pid, "VmRSS")


def test_the_controller_returns_the_memory_of_large_frames_it_passed_on(rc, started):
    # Frames that shrink: once the first has raised glibc's adaptive mmap threshold, the
    # others came from a ZeroMQ thread's arena, whose top glibc never trimmed (22 MiB kept).
    controller = started.pids[0]
    before = rss_mib(controller)
    for mib in range(24, 8, -2):
        rc[0].push({"burst": np.ones((mib << 20) // 8)}, block=True)
    rc[0].execute("burst = None", block=True)
    time.sleep(2.0)  # four of the controller's ticks
    grown = rss_mib(controller) - before
    assert grown < 8, "the controller still holds %.0f MiB after the burst" % grown


def test_the_cluster_s_daemons_run_on_jemalloc(rc, started):
    # glibc's malloc was a sixth to a third of each daemon thread's CPU under load
    # (docs/architecture.md, "Memory allocator"); the test above checks that
    # memory still goes back to the system on it.
    for pid in started.pids:
        with open("/proc/%d/maps" % pid) as maps:
            assert "libjemalloc" in maps.read(), "process %d runs on another allocator" % pid

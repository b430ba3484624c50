"""Restart, shutdown (control and shell) and history across sessions."""

import os
import signal
import time

import pytest


def wait_until_dead(kernel, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not kernel.km.is_alive():
            return True
        time.sleep(0.1)
    return False


def poll_history(kernel, predicate, timeout=10.0, **kwargs):
    """history_request until ``predicate(history)`` holds (the store may write asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        content = kernel.history(**kwargs)
        assert content["status"] == "ok", content
        hist = [tuple(h) for h in content["history"]]
        if predicate(hist) or time.monotonic() > deadline:
            return hist
        time.sleep(0.2)


def run_ok(kernel, code):
    res = kernel.execute(code)
    assert res.status == "ok", res.content
    return res


# -- restart / shutdown -----------------------------------------------------


@pytest.mark.deadline(60)
def test_restart_clears_namespace_and_kernel_keeps_working(fresh_kernel):
    k = fresh_kernel
    run_ok(k, "restart_marker = 'before'")
    run_ok(k, "restart_marker")
    old_pid = k.pid
    k.km.restart_kernel(now=False)
    k.connect()
    assert k.pid != old_pid
    assert k.eval_plain("'restart_marker' in globals()") == "False"
    res = run_ok(k, "'after restart'")
    assert res.content["execution_count"] == 1
    assert [r["data"]["text/plain"] for r in res.results] == ["'after restart'"]


@pytest.mark.deadline(60)
def test_restart_while_busy_cell_runs(fresh_kernel):
    k = fresh_kernel
    k.kc.execute("import time\ntime.sleep(30)")
    time.sleep(0.5)
    k.km.restart_kernel(now=False)
    k.connect()
    k.assert_healthy()


@pytest.mark.deadline(40)
def test_shutdown_request_on_control_replies_and_exits(fresh_kernel):
    k = fresh_kernel
    msg_id = k.kc.shutdown(restart=False)
    reply = k.control_reply(msg_id, timeout=10)
    assert reply["header"]["msg_type"] == "shutdown_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["restart"] is False
    assert wait_until_dead(k), "kernel still running 10 s after shutdown_reply"
    assert k.km.provisioner.process.returncode == 0


@pytest.mark.deadline(40)
def test_shutdown_request_with_restart_flag_is_echoed(fresh_kernel):
    k = fresh_kernel
    msg_id = k.kc.shutdown(restart=True)
    reply = k.control_reply(msg_id, timeout=10)
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["restart"] is True
    # restarting is the client's job: the kernel process itself exits
    assert wait_until_dead(k)


@pytest.mark.deadline(40)
def test_shutdown_request_on_shell_is_accepted(fresh_kernel):
    k = fresh_kernel
    reply = k.shell_request("shutdown_request", {"restart": False}, timeout=10)
    assert reply["header"]["msg_type"] == "shutdown_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["restart"] is False
    assert wait_until_dead(k)


@pytest.mark.ensemble_only  # ipykernel replies, but exits only once the running cell ends
@pytest.mark.deadline(40)
def test_shutdown_while_cell_is_busy_exits_promptly(fresh_kernel):
    k = fresh_kernel
    k.kc.execute("import time\ntime.sleep(30)")
    time.sleep(0.5)
    msg_id = k.kc.shutdown()
    reply = k.control_reply(msg_id, timeout=10)
    assert reply["content"]["status"] == "ok"
    assert wait_until_dead(k)


@pytest.mark.deadline(30)
def test_manager_shutdown_is_graceful(fresh_kernel):
    k = fresh_kernel
    run_ok(k, "x = 1")
    k.kc.stop_channels()
    k.km.shutdown_wait_time = 10.0
    t0 = time.monotonic()
    k.km.shutdown_kernel(now=False)
    assert not k.km.is_alive()
    # a kernel that honours shutdown_request exits before the manager's kill fallback
    assert time.monotonic() - t0 < 9.0


# -- history ----------------------------------------------------------------


@pytest.fixture(scope="module")
def history_kernel(start_kernel):
    """Cells of a first session, then a restart: tests see both sessions."""
    k = start_kernel()
    first = ["hist_alpha = 1", "hist_beta = 2", "hist_alpha + hist_beta"]
    for code in first:
        run_ok(k, code)
    k.first_session_codes = first
    k.km.restart_kernel(now=False)
    k.connect()
    yield k
    k.close()


def test_history_tail_finds_cells_of_previous_session(history_kernel):
    k = history_kernel
    k.ensure_running()
    codes = k.first_session_codes
    hist = poll_history(
        k,
        lambda h: [e[2] for e in h][-3:] == codes,
        hist_access_type="tail",
        n=10,
        raw=True,
        output=False,
    )
    assert all(len(e) == 3 for e in hist)
    assert [e[2] for e in hist][-3:] == codes
    sessions = {e[0] for e in hist[-3:]}
    assert len(sessions) == 1
    assert [e[1] for e in hist[-3:]] == [1, 2, 3]


def test_history_tail_includes_current_session(history_kernel):
    k = history_kernel
    k.ensure_running()
    run_ok(k, "hist_current_cell = 'now'")
    hist = poll_history(
        k,
        lambda h: bool(h) and h[-1][2] == "hist_current_cell = 'now'",
        hist_access_type="tail",
        n=20,
        raw=True,
        output=False,
    )
    assert hist[-1][2] == "hist_current_cell = 'now'"
    old = [e for e in hist if e[2] in k.first_session_codes]
    assert old and old[0][0] < hist[-1][0], "new session should have a larger session number"


def test_history_search_with_pattern_and_unique(history_kernel):
    k = history_kernel
    k.ensure_running()
    for code in ["hist_search_x = 1", "hist_search_y = 2", "hist_search_x = 1"]:
        run_ok(k, code)
    hist = poll_history(
        k,
        lambda h: len(h) >= 3,
        hist_access_type="search",
        pattern="hist_search_*",
        raw=True,
        output=False,
    )
    assert [e[2] for e in hist][-3:] == ["hist_search_x = 1", "hist_search_y = 2", "hist_search_x = 1"]
    assert all(e[2].startswith("hist_search_") for e in hist)

    uniq = poll_history(
        k,
        lambda h: len(h) == 2,
        hist_access_type="search",
        pattern="hist_search_*",
        unique=True,
        raw=True,
        output=False,
    )
    assert sorted(e[2] for e in uniq) == ["hist_search_x = 1", "hist_search_y = 2"]

    limited = k.history(hist_access_type="search", pattern="hist_search_*", n=1, raw=True, output=False)
    assert [h[2] for h in limited["history"]] == ["hist_search_x = 1"]

    none = k.history(hist_access_type="search", pattern="no_such_code_*", raw=True, output=False)
    assert none["status"] == "ok" and none["history"] == []


def test_history_search_pattern_is_a_glob(history_kernel):
    k = history_kernel
    k.ensure_running()
    run_ok(k, "glob_ab1 = 1")
    run_ok(k, "glob_xyz = 1")
    hist = poll_history(
        k, lambda h: len(h) >= 1, hist_access_type="search", pattern="glob_?b?*", raw=True, output=False
    )
    assert [e[2] for e in hist] == ["glob_ab1 = 1"]


def test_history_range_with_output_includes_outputs(history_kernel):
    k = history_kernel
    k.ensure_running()
    r1 = run_ok(k, "6 * 7")
    run_ok(k, "range_no_output = 1")
    r3 = run_ok(k, "'range' + 'text'")
    tail = poll_history(k, lambda h: bool(h) and h[-1][2] == "'range' + 'text'", hist_access_type="tail", n=1, raw=True, output=False)
    session = tail[-1][0]
    start = r1.content["execution_count"]
    stop = r3.content["execution_count"] + 1
    assert tail[-1][1] == stop - 1

    hist = poll_history(
        k,
        lambda h: len(h) == 3,
        hist_access_type="range",
        session=session,
        start=start,
        stop=stop,
        raw=True,
        output=True,
    )
    assert [e[1] for e in hist] == [start, start + 1, start + 2]
    # IPython reports the current session as 0 in range replies; its number is fine too
    assert all(e[0] in (session, 0) for e in hist), hist
    pairs = [e[2] for e in hist]
    assert all(len(p) == 2 for p in pairs), pairs
    assert pairs[0][0] == "6 * 7" and pairs[0][1] == "42"
    assert pairs[1][0] == "range_no_output = 1" and not pairs[1][1]
    assert pairs[2][0] == "'range' + 'text'" and pairs[2][1] == "'rangetext'"

    inputs_only = k.history(hist_access_type="range", session=session, start=start, stop=stop, raw=True, output=False)
    assert [h[2] for h in inputs_only["history"]] == ["6 * 7", "range_no_output = 1", "'range' + 'text'"]


def test_history_excludes_cells_not_stored(history_kernel):
    k = history_kernel
    k.ensure_running()
    run_ok(k, "hist_stored_marker = 1")
    k.execute("hist_unstored_marker = 1", store_history=False)
    k.execute("hist_silent_marker = 1", silent=True)
    hist = poll_history(
        k, lambda h: bool(h) and h[-1][2] == "hist_stored_marker = 1", hist_access_type="tail", n=5, raw=True, output=False
    )
    codes = [e[2] for e in hist]
    assert codes[-1] == "hist_stored_marker = 1"
    assert "hist_unstored_marker = 1" not in codes
    assert "hist_silent_marker = 1" not in codes


@pytest.mark.deadline(40)
def test_kernel_exits_when_the_process_that_launched_it_dies(kernel_target, tmp_path):
    import subprocess
    import sys

    launcher = (
        "import os, time\n"
        "from jupyter_client.manager import KernelManager\n"
        "km = KernelManager(kernel_name=%r)\n"
        "km.start_kernel()\n"
        "print(km.provisioner.process.pid, flush=True)\n"
        "time.sleep(1.0)\n"
        "os._exit(0)\n" % kernel_target.name
    )
    proc = subprocess.run(
        [sys.executable, "-c", launcher],
        capture_output=True,
        text=True,
        timeout=30,
        env=kernel_target.kernel_env(tmp_path),
    )
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        pytest.fail("the kernel outlived its launcher by more than 10 s")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

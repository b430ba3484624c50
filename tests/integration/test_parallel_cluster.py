"""Clusters from Python (``import ensemble as ipp``): started and stopped, as context
managers, async, re-attached from a file, and shut down from a client; and what errors
reach the client (remote errors, composite errors, a killed engine, signals)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import ensemble as ipp
from cluster_util import LocalCluster, running, wait_until
from parallel_fixtures import cluster_info, cluster_pids, kill_left_over, left_running, own_cluster, rc, started  # noqa: F401

pytestmark = pytest.mark.ensemble_only


def getpid():
    import os

    return os.getpid()


# -- clusters -----------------------------------------------------------------


@pytest.mark.deadline(60)
def test_cluster_start_and_connect_sync_runs_one_process_per_engine_and_stop_leaves_none(own_cluster):
    c = own_cluster(n=2)
    client = c.cluster.start_and_connect_sync()
    info = cluster_info(c.profile_dir, c.cluster_id)
    assert info["n"] == 2 and len(info["engine_pids"]) == 2
    assert client.ids == [0, 1]
    assert sorted(client[:].apply_sync(getpid)) == sorted(info["engine_pids"])
    pids = cluster_pids(info)
    assert all(running(p) for p in pids)
    client.close()
    c.cluster.stop_cluster_sync()
    assert not left_running(pids), "stop_cluster_sync left processes behind"
    assert not os.path.exists(c.client_file)


@pytest.mark.deadline(60)
def test_a_clusters_processes_share_one_session_of_their_own_each_in_its_own_process_group(own_cluster):
    # One session: Linux's scheduler shares the CPUs between sessions first (autogroup), so
    # the user's session keeps its share however many engines there are. A process group
    # each: `ensemble cluster stop` ends whatever a stuck daemon started.
    c = own_cluster(n=3)
    c.cluster.start_and_connect_sync()
    pids = cluster_pids(cluster_info(c.profile_dir, c.cluster_id))
    sessions = {os.getsid(pid) for pid in pids}
    assert len(sessions) == 1 and sessions != {os.getsid(0)}
    assert all(os.getpgid(pid) == pid for pid in pids)
    c.cluster.stop_cluster_sync()


@pytest.mark.deadline(90)
def test_a_cluster_whose_profile_directory_was_deleted_is_still_stopped_at_exit(tmp_path):
    # as a script does when an exception leaves its `with TemporaryDirectory()` before its stop
    script = tmp_path / "script.py"
    script.write_text(
        "import json, shutil, sys, tempfile\n"
        "import ensemble as ipp\n"
        "profile = tempfile.mkdtemp()\n"
        "c = ipp.Cluster(n=1, profile_dir=profile, cluster_id='gone')\n"
        "rc = c.start_and_connect_sync()\n"
        "info = json.load(open(c.cluster_file))\n"
        "print(json.dumps([info['controller_pid']] + info['engine_pids']), flush=True)\n"
        "shutil.rmtree(profile)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pids = json.loads(done.stdout.strip().splitlines()[-1])
    try:
        wait_until(lambda: not left_running(pids), 10)
        assert not left_running(pids), "the cluster outlived its program"
    finally:
        kill_left_over(pids)


@pytest.mark.deadline(60)
def test_cluster_as_a_context_manager_connects_and_stops_on_exit(own_cluster):
    c = own_cluster(n=1)
    with c.cluster as client:
        pids = c.remember_pids()
        assert client.ids == [0]
        assert client[0].apply_sync(lambda x: x * 2, 21) == 42
    assert not left_running(pids)
    assert not os.path.exists(c.client_file)


@pytest.mark.deadline(60)
def test_cluster_as_an_async_context_manager_and_async_methods(own_cluster):
    c = own_cluster(n=2)

    async def main():
        async with c.cluster as client:
            pids = c.remember_pids()
            value = await client[:].apply_async(lambda: "async")
            return pids, client.ids, value

    pids, ids, value = asyncio.run(main())
    assert ids == [0, 1] and value == ["async", "async"]
    assert not left_running(pids)

    async def step_by_step():
        await c.cluster.start_cluster()
        client = await c.cluster.connect_client()
        client.wait_for_engines(2, timeout=20)
        pids = c.remember_pids()
        result = await client[1].apply_async(getpid)
        client.close()
        await c.cluster.stop_cluster()
        return pids, result

    pids, result = asyncio.run(step_by_step())
    assert result in pids[1:], "engine 1 runs in a process the cluster file names"
    assert not left_running(pids)


@pytest.mark.deadline(60)
def test_cluster_from_file_reattaches_to_a_cluster_started_from_the_shell(tmp_path, kernel_target):
    shell_cluster = LocalCluster(tmp_path / "w", 2, cluster_id="shell")
    try:
        cluster = ipp.Cluster.from_file(profile_dir=str(shell_cluster.profile_dir), cluster_id="shell")
        assert cluster.cluster_id == "shell"
        client = cluster.connect_client_sync()
        client.wait_for_engines(2, timeout=20)
        assert sorted(client[:].apply_sync(getpid)) == sorted(shell_cluster.info["engine_pids"])
        client.close()
        cluster.stop_cluster_sync()
        assert not left_running(shell_cluster.pids())
    finally:
        shell_cluster.stop()


@pytest.mark.deadline(60)
def test_shutdown_with_hub_stops_the_controller_and_every_engine(own_cluster):
    c = own_cluster(n=2)
    client = c.start_and_connect()
    client.shutdown(hub=True)
    assert not left_running(c.pids), "rc.shutdown(hub=True) left processes behind"
    with pytest.raises(RuntimeError):
        client[:].apply_sync(getpid)  # the client was closed by the shutdown


# -- errors ---------------------------------------------------------------------------


def fails_on_purpose(x):
    local_marker = x * 3
    return local_marker / 0


@pytest.mark.deadline(30)
def test_remote_error_carries_the_engines_exception(rc):
    with pytest.raises(ipp.RemoteError) as info:
        rc[1].apply_sync(fails_on_purpose, 5)
    err = info.value
    assert err.ename == "ZeroDivisionError"
    assert err.evalue == "division by zero"
    assert err.engine_info["engine_id"] == 1 and err.engine_info["method"] == "apply"
    assert err.engine_info["engine_uuid"] == rc._engines[1]
    traceback = err.traceback if isinstance(err.traceback, str) else "\n".join(err.traceback)
    assert "fails_on_purpose" in traceback and "ZeroDivisionError" in traceback
    assert "ZeroDivisionError" in str(err)


@pytest.mark.deadline(30)
def test_a_failure_on_several_engines_is_a_composite_error(rc):
    with pytest.raises(ipp.CompositeError) as info:
        rc[:].apply_sync(fails_on_purpose, 1)
    err = info.value
    assert isinstance(err, ipp.RemoteError)
    assert len(err.elist) == 2 and {e[0] for e in err.elist} == {"ZeroDivisionError"}
    with pytest.raises(ipp.RemoteError) as first:
        err.raise_exception(0)
    assert first.value.ename == "ZeroDivisionError"
    assert "[0:apply]" in str(err) and "[1:apply]" in str(err)
    mixed = rc[:].map(lambda x: 1 / x, [0, 1], block=False, return_exceptions=True)
    results = mixed.get(10)
    assert isinstance(results[0], ipp.RemoteError) and results[1] == 1.0


@pytest.mark.deadline(60)
def test_a_sigkilled_engine_fails_its_task_with_engine_error_and_the_other_keeps_working(tmp_path):
    shell_cluster = LocalCluster(tmp_path / "w", 2, cluster_id="kill", heartbeat_ms=100)
    client = None
    try:
        client = ipp.Client(url_file=str(shell_cluster.file("ipcontroller-client")))
        client.wait_for_engines(2, timeout=20)
        victim = client[1].apply_sync(getpid)
        stuck = client[1].apply_async(time.sleep, 60)
        time.sleep(0.3)
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(ipp.EngineError) as info:
            stuck.get(15)
        assert isinstance(info.value, ipp.RemoteError) and info.value.ename == "EngineError"
        assert wait_until(lambda: client.ids == [0], 10), client.ids
        assert client[0].apply_sync(lambda: "still here") == "still here"
        assert client[:].apply_sync(lambda: 1) == [1]
    finally:
        if client is not None:
            client.close()
        shell_cluster.stop()


@pytest.mark.deadline(30)
def test_send_signal_sigint_interrupts_a_running_apply_and_execute(rc):
    for start in (lambda: rc[1].apply_async(time.sleep, 20), lambda: rc[1].execute("import time; time.sleep(20)")):
        ar = start()
        assert wait_until(lambda: rc.queue_status()[1]["queue"] == 1, 5)
        time.sleep(0.3)  # the request is running, not only queued
        began = time.monotonic()
        rc.send_signal(signal.SIGINT, targets=[1], block=True)
        with pytest.raises(ipp.RemoteError) as info:
            ar.get(5)
        assert info.value.ename == "KeyboardInterrupt"
        assert time.monotonic() - began < 2
    assert rc[1].apply_sync(lambda: "interrupted, not dead") == "interrupted, not dead"


def _ignore_sigusr2():
    import signal

    signal.signal(signal.SIGUSR2, lambda *args: None)
    return True


@pytest.mark.deadline(30)
def test_send_signal_to_engines_on_this_host_returns_with_block_and_gives_a_done_result_without(rc):
    # the client signals an engine on its own host itself: nothing goes to the engines, and
    # block=True waited for nothing forever before (an AsyncResult of no request)
    assert rc[0].apply_sync(_ignore_sigusr2) is True
    assert rc.send_signal(signal.SIGUSR2, targets=[rc.ids[0]], block=True) is None
    ar = rc.send_signal(0, block=False)
    assert ar.done() and ar.get(1) == []
    assert rc[0].apply_sync(lambda: "still here") == "still here"


@pytest.mark.deadline(60)
def test_engines_run_their_profiles_startup_files_and_pythonstartup(own_cluster, tmp_path, monkeypatch):
    python_startup = tmp_path / "pythonstartup.py"
    python_startup.write_text("startup_order = ['PYTHONSTARTUP']\n")
    monkeypatch.setenv("PYTHONSTARTUP", str(python_startup))
    c = own_cluster(n=1)
    startup = os.path.join(c.profile_dir, "startup")
    os.makedirs(startup)
    with open(os.path.join(startup, "00-engine.py"), "w") as f:
        f.write("startup_order.append('profile')\n")
    client = c.start_and_connect()
    assert client[0].pull("startup_order", block=True) == ["PYTHONSTARTUP", "profile"]


@pytest.mark.deadline(60)
def test_wait_for_engines_fails_with_engine_error_when_the_clusters_engines_exit(own_cluster, tmp_path,
                                                                               monkeypatch):
    crash = tmp_path / "crash.py"
    crash.write_text("import os, time\ntime.sleep(0.5)\nos._exit(1)\n")
    monkeypatch.setenv("PYTHONSTARTUP", str(crash))
    c = own_cluster(n=2)
    c.cluster.start_cluster_sync()
    c.remember_pids()
    c.client = c.cluster.connect_client_sync()
    started = time.monotonic()
    with pytest.raises(ipp.EngineError, match="Engine set stopped"):
        c.client.wait_for_engines(2, timeout=30)
    assert time.monotonic() - started < 10, "noticed the engines' exit, not the timeout"


@pytest.mark.deadline(60)
def test_starting_a_running_controller_again_is_a_runtime_error(own_cluster):
    c = own_cluster(n=0)
    c.cluster.start_controller_sync()
    c.remember_pids()
    with pytest.raises(RuntimeError, match="already running"):
        c.cluster.start_controller_sync()
    c.client = c.cluster.connect_client_sync()
    assert c.client.ids == []


@pytest.mark.deadline(60)
def test_waiting_for_engines_after_the_controller_is_gone_is_an_engine_error_not_a_hang(own_cluster):
    c = own_cluster(n=1)
    client = c.start_and_connect()
    c.cluster.stop_cluster_sync()
    wait_until(lambda: client._lost, 10)
    started = time.monotonic()
    with pytest.raises(ipp.EngineError, match="controller was lost"):
        client.wait_for_engines(1)  # no timeout: it used to wait for ever
    with pytest.raises(ipp.EngineError, match="controller was lost"):
        client.wait_for_engines(1, block=False).result(5)
    assert time.monotonic() - started < 3


@pytest.mark.deadline(60)
def test_signal_engines_reaches_only_the_engine_set_it_names(own_cluster):
    c = own_cluster(n=1)
    client = c.start_and_connect()
    second = c.cluster.start_engines_sync(1)
    client.wait_for_engines(2, timeout=20)
    c.remember_pids()
    with pytest.raises(KeyError):
        c.cluster.signal_engines_sync(signal.SIGTERM, "no-such-set")
    [signalled] = c.cluster.engines[second]["pids"]
    c.cluster.signal_engines_sync("SIGTERM", second)
    assert wait_until(lambda: not running(signalled), 10)
    assert wait_until(lambda: len(client.ids) == 1, 10)
    assert client[client.ids[0]].apply_sync(lambda: "the other set is untouched") == "the other set is untouched"

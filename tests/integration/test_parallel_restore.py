"""A controller killed mid-run and started again with ``--restore`` on the same task store:
finished results stay retrievable, lost tasks are answered, engines and clients carry on."""

import json
import os
import signal
import subprocess
import time

import pytest

from cluster_util import cluster, running, wait_until  # noqa: F401 (cluster: a fixture)
from conftest import ENSEMBLE_BIN


def kill_controller(c):
    time.sleep(0.2)  # the store writes in batches every 20 ms
    os.kill(c.info["controller_pid"], signal.SIGKILL)
    assert wait_until(lambda: not running(c.info["controller_pid"]), 10)


def restore_controller(c):
    """Starts the cluster's controller again with --restore; returns once it serves (it has
    written its files again, with the same ports and key)."""
    restarted = subprocess.Popen([str(ENSEMBLE_BIN), "controller", "--restore", "--heartbeat-period", "100",
                                  "--cluster-id", c.cluster_id, "--profile-dir", str(c.profile_dir)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=c.env)
    c.info["controller_pid"] = restarted.pid  # stop() ends it

    def serving():
        try:
            return json.loads(c.file("ipcontroller-client").read_text()).get("controller_pid") == restarted.pid
        except (OSError, ValueError):  # being rewritten
            return False

    assert wait_until(serving, 10)


@pytest.mark.deadline(90)
def test_a_restored_controller_reports_a_damaged_stored_result_when_asked_and_serves_the_rest(cluster):
    import sqlite3

    import ensemble as ipp

    c = cluster(n=1)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(1, timeout=30)
        kept, damaged = (rc[0].apply_async(lambda v=v: v) for v in ("kept", "damaged"))
        assert (kept.get(10), damaged.get(10)) == ("kept", "damaged")
        kill_controller(c)
        [store] = list(c.profile_dir.glob("*.sqlite"))
        with sqlite3.connect(store) as db:
            db.execute("UPDATE tasks SET reply = x'ff' WHERE msg_id = ?", (damaged.msg_ids[0],))
        restore_controller(c)
        other = ipp.Client(url_file=str(c.file("ipcontroller-client")))
        try:
            with pytest.raises(ipp.error.RemoteError) as unreadable:
                other.get_result(damaged.msg_ids[0]).get(10)
            assert "cannot be read back" in unreadable.value.evalue
            assert other.get_result(kept.msg_ids[0]).get(10) == "kept"
            assert damaged.msg_ids[0] in other.hub_history(), "still a known msg_id"
        finally:
            other.close()
    finally:
        rc.close()


@pytest.mark.deadline(90)
def test_a_controller_killed_and_restored_keeps_finished_results_and_its_engines_and_clients(cluster):
    import ensemble as ipp

    c = cluster(n=2)
    rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
    try:
        rc.wait_for_engines(2, timeout=30)
        direct = rc[0].apply_async(lambda: "direct result")
        balanced = rc.load_balanced_view().apply_async(lambda: "balanced result")
        assert direct.get(10) == "direct result" and balanced.get(10) == "balanced result"
        finished = direct.msg_ids + balanced.msg_ids
        running_at_the_kill = rc.load_balanced_view().apply_async(time.sleep, 2)
        kill_controller(c)
        restore_controller(c)
        time.sleep(0.3)  # and has registered the engines' first heartbeats
        # a client that never saw the old controller fetches the old results by msg_id
        other = ipp.Client(url_file=str(c.file("ipcontroller-client")))
        try:
            assert [other.get_result(m).get(10) for m in finished] == ["direct result", "balanced result"]
            records = other.db_query({"msg_id": {"$in": finished}}, keys=["completed", "queue"])
            assert sorted(r["queue"] for r in records) == ["mux", "task"]
            assert all(r["completed"] is not None for r in records)
            with pytest.raises(ipp.error.RemoteError) as lost:
                other.get_result(running_at_the_kill.msg_ids[0]).get(10)
            assert lost.value.ename == "EngineError" and "controller stopped" in lost.value.evalue
            status = other.queue_status()
            assert status[0]["completed"] + status[1]["completed"] == 3, "each finished task counted once"
            other.wait_for_engines(2, timeout=30)
            assert sorted(other.ids) == [0, 1], "the engines registered again, under their old ids"
        finally:
            other.close()
        # the first client carries on
        assert wait_until(lambda: not rc._lost, 10)
        assert rc[1].apply_sync(lambda: 6 * 7) == 42
    finally:
        rc.close()

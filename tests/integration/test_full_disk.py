"""A history database on a disk that fills up: history degrades, nothing else does."""

import subprocess
import uuid

import pytest

pytestmark = pytest.mark.ensemble_only


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        # Mounting needs CAP_SYS_ADMIN; CI and the developers' machines run as root.
        pytest.skip("cannot mount a tmpfs here: " + mounted.stderr.strip())
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(directory):
    """Writes until the filesystem refuses more."""
    try:
        with open(directory / "filler", "wb", buffering=0) as filler:
            while True:
                filler.write(b"\0" * 4096)
    except OSError:
        pass


@pytest.mark.deadline(90)
def test_full_disk_degrades_history_and_the_kernel_keeps_serving(tiny_disk, start_kernel):
    kernel = start_kernel(ENSEMBLE_HISTORY=str(tiny_disk / "history.sqlite"))
    assert kernel.execute("a = 1").status == "ok"
    fill(tiny_disk)
    marker = uuid.uuid4().hex
    big = "x" * 200_000
    for i in range(5):
        res = kernel.execute(f"# {marker} {i}\nb{i} = {big!r}[:3]\nb{i}")
        assert res.status == "ok", res.content
    assert kernel.eval_plain("b4") == "'xxx'"
    history = kernel.history(hist_access_type="search", pattern=f"*{marker}*", n=10)
    assert history["status"] == "ok"
    # What could not be written is still answered from memory for this session.
    assert len(history["history"]) == 5
    (tiny_disk / "filler").unlink(missing_ok=True)


@pytest.mark.deadline(90)
def test_a_full_disk_under_the_task_store_is_reported_and_the_controller_keeps_scheduling(tiny_disk, tmp_path):
    import ensemble as ipp
    from cluster_util import LocalCluster

    c = LocalCluster(tmp_path / "cluster", 1, cluster_id="full", extra=["--db", str(tiny_disk / "tasks.sqlite")])
    rc = None
    try:
        rc = ipp.Client(url_file=str(c.file("ipcontroller-client")))
        rc.wait_for_engines(1, timeout=30)
        assert rc[0].apply_sync(lambda: "stored") == "stored"
        fill(tiny_disk)
        lview = rc.load_balanced_view()
        payload = b"x" * 20000  # the replies cannot fit on the disk any more
        results = [lview.apply_async(lambda p: len(p), payload) for _ in range(200)]
        assert [r.get(30) for r in results] == [20000] * 200
        assert "full disk" in c.controller_log()
        # a query would miss records now: it says so instead
        with pytest.raises(ipp.RemoteError) as unavailable:
            rc.db_query({"msg_id": {"$ne": ""}})
        assert unavailable.value.ename == "TaskStoreUnavailable"
        # results are still fetched from memory, by another client too
        other = ipp.Client(url_file=str(c.file("ipcontroller-client")))
        try:
            assert other.get_result(results[-1].msg_ids[0]).get(10) == 20000
        finally:
            other.close()
    finally:
        if rc is not None:
            rc.close()
        c.stop()

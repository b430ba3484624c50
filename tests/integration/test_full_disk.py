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

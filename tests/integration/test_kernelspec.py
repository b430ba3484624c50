"""The ``ensemble`` command line: kernelspec install, and ``kernel`` with/without -f."""

import json
import os
import select
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.connect import write_connection_file
from jupyter_client.kernelspec import KernelSpecManager

pytestmark = pytest.mark.ensemble_only  # these exercise Ensemble's own command line


def ensemble_bin(kernel_target):
    return Path(kernel_target.spec_argv[0])


def test_installed_kernelspec_matches_contract(kernel_target):
    spec_file = kernel_target.jupyter_path / "kernels" / "ensemble" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    argv = spec["argv"]
    assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK), argv
    assert argv[1:] == ["kernel", "-f", "{connection_file}"]
    assert spec["interrupt_mode"] == "message"
    assert spec["language"] == "python"
    assert spec["display_name"] == "Ensemble (Python 3)"
    # and Jupyter finds it by name
    found = KernelSpecManager().get_kernel_spec("ensemble")
    assert found.argv == argv
    assert found.interrupt_mode == "message"


def test_kernelspec_install_with_another_name_and_prefix(kernel_target, tmp_path):
    proc = subprocess.run(
        [str(ensemble_bin(kernel_target)), "kernelspec", "install", "--prefix", str(tmp_path), "--name", "other-name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    spec = json.loads((tmp_path / "share/jupyter/kernels/other-name/kernel.json").read_text())
    assert spec["argv"][1:] == ["kernel", "-f", "{connection_file}"]
    assert Path(spec["argv"][0]).resolve() == ensemble_bin(kernel_target).resolve()
    # jupyter_client >= 8.9 writes a CurveZMQ pair only for kernels that say they take one
    assert spec["metadata"]["supported_encryption"] == ["curve"]


def _client_for(connection_file):
    kc = BlockingKernelClient(connection_file=str(connection_file))
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return kc


def _run_and_shut_down(kc, proc):
    msg_id = kc.execute("21 * 2")
    reply = kc.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "ok"
    msg_id = kc.shutdown()
    reply = kc.get_control_msg(timeout=10)
    assert reply["content"]["status"] == "ok"
    assert proc.wait(timeout=15) == 0


def _kill(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.mark.deadline(90)
def test_kernel_without_connection_file_writes_private_one_and_prints_path(kernel_target, tmp_path):
    env = kernel_target.kernel_env(tmp_path / "state")
    proc = subprocess.Popen(
        [str(ensemble_bin(kernel_target)), "kernel"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=str(tmp_path),
    )
    kc = None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no connection file path printed within 30 s"
        line = proc.stdout.readline().decode().strip()
        path = Path(line)
        if not path.is_absolute():
            path = tmp_path / path
        assert path.is_file(), "printed %r, which is not a file" % line
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, oct(mode)
        info = json.loads(path.read_text())
        assert info["transport"] == "tcp"
        assert info["ip"] == "127.0.0.1"
        assert info["signature_scheme"] == "hmac-sha256"
        assert len(info["key"]) >= 32
        ports = [info[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]
        assert len(set(ports)) == 5 and all(p > 0 for p in ports)
        kc = _client_for(path)
        _run_and_shut_down(kc, proc)
    finally:
        if kc is not None:
            kc.stop_channels()
        _kill(proc)


@pytest.mark.deadline(60)
def test_two_kernels_without_connection_file_get_different_keys(kernel_target, tmp_path):
    keys = []
    procs = []
    try:
        for i in range(2):
            env = kernel_target.kernel_env(tmp_path / ("state%d" % i))
            proc = subprocess.Popen(
                [str(ensemble_bin(kernel_target)), "kernel"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
                cwd=str(tmp_path),
            )
            procs.append(proc)
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready
            path = Path(proc.stdout.readline().decode().strip())
            if not path.is_absolute():
                path = tmp_path / path
            keys.append(json.loads(path.read_text())["key"])
        assert keys[0] != keys[1]
    finally:
        for p in procs:
            _kill(p)


@pytest.mark.deadline(90)
def test_kernel_with_given_connection_file(kernel_target, tmp_path):
    cf = tmp_path / "conn.json"
    write_connection_file(str(cf), ip="127.0.0.1", key=os.urandom(16).hex().encode())
    env = kernel_target.kernel_env(tmp_path / "state")
    proc = subprocess.Popen(
        [str(ensemble_bin(kernel_target)), "kernel", "-f", str(cf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
    )
    kc = None
    try:
        kc = _client_for(cf)
        _run_and_shut_down(kc, proc)
    finally:
        if kc is not None:
            kc.stop_channels()
        _kill(proc)


@pytest.mark.deadline(30)
def test_kernel_with_corrupt_connection_file_fails_cleanly(kernel_target, tmp_path):
    cf = tmp_path / "bad.json"
    cf.write_text("{not json")
    proc = subprocess.run(
        [str(ensemble_bin(kernel_target)), "kernel", "-f", str(cf)],
        capture_output=True, text=True, timeout=20, env=kernel_target.kernel_env(tmp_path / "s"),
    )
    assert proc.returncode > 0
    assert proc.stderr.strip()

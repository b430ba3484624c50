"""`make install`'s CMake rules: an installed tree runs a kernel on its own."""

import json
import os
import subprocess

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import ENSEMBLE_BIN

pytestmark = pytest.mark.ensemble_only
BUILD_DIR = ENSEMBLE_BIN.parent.parent


@pytest.mark.deadline(120)
def test_installed_tree_serves_a_kernel_through_its_kernelspec(tmp_path, kernel_target):
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", str(prefix)], check=True,
                   capture_output=True, timeout=60)
    installed = prefix / "bin" / "ensemble"
    assert installed.is_file()
    assert list(prefix.glob("lib/python3*/dist-packages/ensemble/_kernel/runtime.py"))
    subprocess.run([str(installed), "kernelspec", "install", "--prefix", str(prefix), "--name", "installed"],
                   check=True, capture_output=True, timeout=30)
    spec = json.loads((prefix / "share/jupyter/kernels/installed/kernel.json").read_text())
    assert spec["argv"][0] == str(installed)

    env = kernel_target.kernel_env(tmp_path / "state")
    env.pop("PYTHONPATH", None)  # the installed binary must find its own package
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    os.environ["JUPYTER_PATH"] = str(prefix / "share/jupyter")
    try:
        km, kc = start_new_kernel(kernel_name="installed", startup_timeout=30)
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        msg_id = kc.execute("import ensemble._kernel.runtime as r; print(r.__file__)")
        reply = kc.get_shell_msg(timeout=20)
        assert reply["content"]["status"] == "ok"
        out = ""
        while True:
            msg = kc.get_iopub_msg(timeout=20)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert str(prefix) in out
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

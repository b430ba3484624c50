"""Every field of the connection file is honoured: ipc as well as tcp."""

import os

import pytest
from jupyter_client.manager import KernelManager


@pytest.mark.deadline(60)
def test_kernel_serves_every_channel_over_ipc(kernel_target, tmp_path):
    env = kernel_target.kernel_env(tmp_path / "state")
    km = KernelManager(kernel_name=kernel_target.name, transport="ipc", ip=str(tmp_path / "kernel-ipc"))
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    outputs = []
    try:
        kc.wait_for_ready(timeout=30)
        info = km.get_connection_info()
        assert info["transport"] == "ipc"
        for port in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
            assert os.path.exists("%s-%d" % (info["ip"], info[port])), port
        reply = kc.execute_interactive("print(6 * 7)", timeout=20, output_hook=lambda msg: outputs.append(msg))
        assert reply["content"]["status"] == "ok"
        assert any(m["msg_type"] == "stream" and m["content"]["text"] == "42\n" for m in outputs)
        assert kc.is_alive()
        msg_id = kc.kernel_info()
        assert kc.get_shell_msg(timeout=10)["parent_header"]["msg_id"] == msg_id
        km.interrupt_kernel()  # over the control channel, which is ipc too
        assert kc.hb_channel.is_beating()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


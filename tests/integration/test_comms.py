"""Comms: comm_info, comm_open to an unknown target, a kernel-side target."""

import uuid


def is_comm_msg(comm_id, *types):
    return lambda m: m["header"]["msg_type"] in types and m["content"].get("comm_id") == comm_id


def test_comm_info_reply_lists_comms(kernel):
    reply = kernel.shell_request("comm_info_request", {})
    assert reply["header"]["msg_type"] == "comm_info_reply"
    assert reply["content"]["status"] == "ok"
    comms = reply["content"]["comms"]
    assert isinstance(comms, dict)
    for info in comms.values():
        assert isinstance(info["target_name"], str)


def test_comm_open_to_unknown_target_is_closed_by_kernel(kernel):
    comm_id = uuid.uuid4().hex
    start = len(kernel.iopub_log)
    kernel.send_shell(
        "comm_open", {"comm_id": comm_id, "target_name": "ensemble-no-such-target", "data": {}}
    )
    msg = kernel.wait_iopub(is_comm_msg(comm_id, "comm_close"), timeout=10, start=start)
    assert msg["content"]["comm_id"] == comm_id
    # it is not listed as open afterwards
    comms = kernel.shell_request("comm_info_request", {})["content"]["comms"]
    assert comm_id not in comms
    kernel.assert_healthy()


def test_comm_msg_and_close_for_unknown_comm_are_ignored(kernel):
    comm_id = uuid.uuid4().hex
    kernel.send_shell("comm_msg", {"comm_id": comm_id, "data": {"x": 1}})
    kernel.send_shell("comm_close", {"comm_id": comm_id, "data": {}})
    kernel.assert_healthy()


def test_registered_target_receives_open_and_echoes(kernel):
    target = "t"
    res = kernel.execute(
        "get_ipython().kernel.comm_manager.register_target("
        "%r, lambda comm, msg: comm.send({'echo': msg['content']['data']}))" % target
    )
    assert res.status == "ok", res.content

    comm_id = uuid.uuid4().hex
    payload = {"n": 42, "s": "h\u00e9llo", "l": [1, 2, None]}
    start = len(kernel.iopub_log)
    kernel.send_shell("comm_open", {"comm_id": comm_id, "target_name": target, "data": payload})
    msg = kernel.wait_iopub(is_comm_msg(comm_id, "comm_msg", "comm_close"), timeout=10, start=start)
    assert msg["header"]["msg_type"] == "comm_msg", msg["content"]
    assert msg["content"]["data"] == {"echo": payload}

    # the comm is now open and listed, also when filtering by target name
    info = kernel.shell_request("comm_info_request", {"target_name": target})["content"]
    assert info["status"] == "ok"
    assert info["comms"].get(comm_id) == {"target_name": target}
    other = kernel.shell_request("comm_info_request", {"target_name": "some-other-target"})["content"]
    assert comm_id not in other["comms"]

    # closing from the client side removes it
    kernel.send_shell("comm_close", {"comm_id": comm_id, "data": {}})
    kernel.assert_healthy()
    assert comm_id not in kernel.shell_request("comm_info_request", {})["content"]["comms"]


def test_ipywidget_opens_a_comm_and_takes_state_from_the_client(kernel):
    res = kernel.execute("import ipywidgets\nslider = ipywidgets.IntSlider(value=3)\nslider")
    assert res.status == "ok", res.content
    opens = [m["content"] for m in res.of_type("comm_open")]
    assert opens and all(o["target_name"] == "jupyter.widget" for o in opens)
    model = [o for o in opens if "IntSlider" in str(o["data"])]
    assert model, opens
    comm_id = model[0]["comm_id"]
    views = [m["content"]["data"] for m in res.of_type("display_data")]
    assert any("application/vnd.jupyter.widget-view+json" in data for data in views)
    kernel.send_shell(
        "comm_msg",
        {"comm_id": comm_id, "data": {"method": "backbone", "sync_data": {"value": 7}}},
    )
    assert kernel.eval_plain("slider.value") == "7"
    comms = kernel.shell_request("comm_info_request", {"target_name": "jupyter.widget"})["content"]["comms"]
    assert comm_id in comms


def test_comm_buffers_reach_the_target_in_order_small_and_large(kernel):
    # a message of more than 64 KiB of buffers is received without copying them
    # (they stay in their ZeroMQ frames); the comm target still sees every one, in order
    target = "sizes"
    res = kernel.execute(
        "get_ipython().kernel.comm_manager.register_target(%r, lambda comm, msg: comm.send("
        "{'sizes': [len(bytes(b)) for b in msg['buffers']], 'heads': [bytes(b)[:1].decode() for b in msg['buffers']]}))"
        % target
    )
    assert res.status == "ok", res.content
    comm_id = uuid.uuid4().hex
    start = len(kernel.iopub_log)
    # the channel's send() takes no buffers: the session sends on its socket
    kernel.kc.session.send(kernel.kc.shell_channel.socket, "comm_open",
                           {"comm_id": comm_id, "target_name": target, "data": {}},
                           buffers=[b"a" * 10, b"b" * 200_000, b"c" * 3])
    echoed = kernel.wait_iopub(lambda m: is_comm_msg(comm_id, "comm_msg")(m) and "sizes" in m["content"]["data"]
                               and len(m["content"]["data"]["sizes"]) == 3, timeout=10, start=start)
    assert echoed["content"]["data"] == {"sizes": [10, 200_000, 3], "heads": ["a", "b", "c"]}
    kernel.assert_healthy()

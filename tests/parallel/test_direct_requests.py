"""The client's side of direct requests (docs/parallel-protocol.md, "Direct requests"):
which engines it sends to directly, and its bookkeeping when replies and outputs arrive
by different paths."""

import socket

import pytest

from ensemble.client.engine_roster import direct_endpoint
from ensemble.client.futures import MessageFuture
from ensemble.client.metadata import Metadata

HERE = socket.gethostname()
LOCAL = {"ip": "127.0.0.1"}


def test_an_engine_on_this_host_is_reached_at_the_shell_endpoint_it_registered():
    assert direct_endpoint({"shell": "tcp://127.0.0.1:5000", "hostname": HERE}, LOCAL) == "tcp://127.0.0.1:5000"
    assert direct_endpoint({"shell": "ipc:///tmp/k-5000", "hostname": HERE}, LOCAL) == "ipc:///tmp/k-5000"


def test_an_engine_on_another_host_is_reached_directly_only_where_that_host_can_be_reached():
    elsewhere = "not-" + HERE
    assert direct_endpoint({"shell": "tcp://127.0.0.1:5000", "hostname": elsewhere}, LOCAL) is None
    assert direct_endpoint({"shell": "ipc:///tmp/k-5000", "hostname": elsewhere}, LOCAL) is None
    assert direct_endpoint({"shell": "tcp://10.1.2.3:5000", "hostname": elsewhere}, LOCAL) == "tcp://10.1.2.3:5000"


def test_an_engine_bound_everywhere_is_reached_where_the_controller_is():
    info = {"shell": "tcp://0.0.0.0:5000", "hostname": "not-" + HERE}
    assert direct_endpoint(info, {"ip": "10.9.8.7"}) == "tcp://10.9.8.7:5000"
    assert direct_endpoint(dict(info, hostname=HERE), {"ip": "*"}) == "tcp://127.0.0.1:5000"


@pytest.mark.parametrize("info", [{}, {"shell": ""}, {"shell": "udp://127.0.0.1:1", "hostname": HERE}])
def test_an_engine_without_a_usable_shell_endpoint_goes_through_the_controller(info):
    assert direct_endpoint(info, LOCAL) is None


def test_direct_requests_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("ENSEMBLE_DIRECT", "0")
    assert direct_endpoint({"shell": "tcp://127.0.0.1:5000", "hostname": HERE}, LOCAL) is None


def test_letting_go_of_a_finished_future_keeps_a_newer_one_filed_under_its_msg_id(rc):
    # A direct reply can come before the outputs its request published (those come through the
    # controller): a get_result() in between files the controller's future under the same msg_id.
    old, new = (MessageFuture("m-1", Metadata(msg_id="m-1")) for _ in range(2))
    old.set_result(1)
    rc._futures["m-1"] = new
    rc._forget_when_complete(old)
    rc._output_complete(old)
    assert rc._futures["m-1"] is new
    rc._futures["m-1"] = old
    rc._output_complete(old)
    assert "m-1" not in rc._futures

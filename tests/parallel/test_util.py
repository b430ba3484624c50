"""ensemble.util: the ipyparallel.util names user code imports."""

import socket

import pytest

from ensemble.util import disambiguate_ip_address, disambiguate_url, split_url


def test_a_wildcard_url_becomes_loopback_here_and_the_given_address_elsewhere():
    assert disambiguate_url("tcp://*:10101") == "tcp://127.0.0.1:10101"
    assert disambiguate_url("tcp://0.0.0.0:5") == "tcp://127.0.0.1:5"
    assert disambiguate_url("tcp://*:5", socket.gethostname()) == "tcp://127.0.0.1:5"
    assert disambiguate_url("tcp://*:5", "10.11.12.13") == "tcp://10.11.12.13:5"
    assert disambiguate_url("tcp://10.0.0.2:5", "10.11.12.13") == "tcp://10.0.0.2:5"


def test_a_url_that_is_not_host_and_port_comes_back_unchanged():
    assert disambiguate_url("ipc:///tmp/engine-0") == "ipc:///tmp/engine-0"
    assert disambiguate_url("inproc://x") == "inproc://x"
    with pytest.raises(ValueError):
        split_url("tcp://nohostport")
    assert split_url("tcp://[::1]:7") == ("tcp", "[::1]", "7")
    assert disambiguate_ip_address("192.168.0.9") == "192.168.0.9"

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


# -- a connection file from another machine ---------------------------------------------

def _warnings_for(config, is_local):
    import warnings

    from ensemble.client.util import warn_if_controller_elsewhere

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_controller_elsewhere(config, is_local)
    return [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_a_loopback_controller_on_another_host_is_warned_about():
    caught = _warnings_for({"ip": "127.0.0.1", "location": "elsewhere.invalid"}, lambda ip: False)
    assert len(caught) == 1 and "elsewhere.invalid" in str(caught[0].message)


def test_a_loopback_controller_on_this_host_or_one_reachable_elsewhere_is_not_warned_about():
    import socket

    here = {"ip": "127.0.0.1", "location": socket.gethostname()}
    assert _warnings_for(here, lambda ip: False) == []
    assert _warnings_for({"ip": "127.0.0.1", "location": "elsewhere.invalid"}, lambda ip: True) == []
    assert _warnings_for({"ip": "10.1.2.3", "location": "elsewhere.invalid"}, lambda ip: False) == []
    assert _warnings_for({"ip": "127.0.0.1"}, lambda ip: False) == []


def test_is_local_ip_knows_loopback_and_refuses_an_address_not_on_this_machine():
    from ensemble.client.util import is_local_ip

    assert is_local_ip("127.0.0.1") and is_local_ip("::1")
    assert not is_local_ip("192.0.2.1")  # TEST-NET-1: assigned to no machine

"""Several people's `ensemble console`s on one encrypted kernel: in tmux, and across two
network namespaces joined by a veth pair (the kernel on one "host", the consoles on another)."""

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import ENSEMBLE_BIN
from encrypted_kernel import OWNER, make_kernel  # noqa: F401  (make_kernel is a fixture)
from tmux_driver import start_in_tmux

pytestmark = pytest.mark.ensemble_only


class Console:
    """An interactive `ensemble console --existing FILE` in its own tmux server."""

    def __init__(self, env, connection_file, history):
        command = "%s console --history-file %s --existing %s" % (ENSEMBLE_BIN, history, connection_file)
        self.tmux = start_in_tmux(command, env)

    def close(self):
        self.tmux.run("kill-server", check=False)


@pytest.fixture
def consoles():
    opened = []

    def _open(env, connection_file, history):
        c = Console(env, connection_file, history)
        opened.append(c)
        return c

    yield _open
    for c in opened:
        c.close()


@pytest.mark.deadline(120)
def test_owner_collaborator_and_observer_consoles_share_one_kernel(make_kernel, consoles, tmp_path):  # noqa: F811
    k = make_kernel()
    k.owner()
    alice_file = k.path.with_name("invite-alice.json")
    oscar_file = k.path.with_name("invite-oscar.json")
    k.invite("collaborator", "alice", alice_file)
    k.invite("observer", "oscar", oscar_file)

    owner = consoles(k.env, k.path, tmp_path / "h-owner")
    alice = consoles(k.env, alice_file, tmp_path / "h-alice")
    oscar = consoles(k.env, oscar_file, tmp_path / "h-oscar")
    owner.tmux.wait_for("In [1]:")
    alice.tmux.wait_for("In [1]:")
    oscar.tmux.wait_for("Read-only")

    alice.tmux.type_line("shared = 6 * 7")
    owner.tmux.wait_for("[alice] In [1]: shared = 6 * 7")
    oscar.tmux.wait_for("[alice] In [1]: shared = 6 * 7")

    owner.tmux.type_line("print('owner sees', shared)")
    alice.tmux.wait_for("owner sees 42")
    screen = oscar.tmux.wait_for("owner sees 42")
    assert "[%s] In [2]: print('owner sees', shared)" % OWNER in screen

    # the observer's console never offers a prompt of its own: typing runs nothing
    oscar.tmux.type_line("shared = 0")
    alice.tmux.type_line("shared")
    alice.tmux.wait_for("Out[3]: 42")
    assert "PermissionError" not in alice.tmux.screen()


# -- two "hosts" ----------------------------------------------------------------


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15, check=check)


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair; yields (kernel_ns, kernel_ip, console_ns)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = uuid.uuid4().hex[:6]
    kernel_ns, console_ns = "ens-k-" + tag, "ens-c-" + tag
    subnet = "10.%d.%d" % (100 + int(tag[:2], 16) % 100, int(tag[2:4], 16))
    created = []
    try:
        for ns in (kernel_ns, console_ns):
            _ip("netns", "add", ns)
            created.append(ns)
        _ip("link", "add", "vk" + tag, "type", "veth", "peer", "name", "vc" + tag)
        for ns, dev, host in ((kernel_ns, "vk" + tag, 1), (console_ns, "vc" + tag, 2)):
            _ip("link", "set", dev, "netns", ns)
            _ip("-n", ns, "addr", "add", "%s.%d/24" % (subnet, host), "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, OSError) as e:
        for ns in created:
            _ip("netns", "del", ns, check=False)
        pytest.skip("cannot create network namespaces here: %s" % getattr(e, "stderr", e))
    yield kernel_ns, subnet + ".1", console_ns
    for ns in created:
        _ip("netns", "del", ns, check=False)  # takes the veth pair with it


def _wait_for_ports(path, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = json.loads(path.read_text())
            if conn.get("shell_port"):
                return conn
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    pytest.fail("the kernel never wrote its ports to %s" % path)


@pytest.mark.deadline(120)
def test_two_consoles_on_another_host_share_an_encrypted_kernel(make_kernel, two_hosts):  # noqa: F811
    kernel_ns, kernel_ip, console_ns = two_hosts
    k = make_kernel(ip=kernel_ip, launcher=("ip", "netns", "exec", kernel_ns))
    conn = _wait_for_ports(k.path)
    assert conn["ip"] == kernel_ip and conn["curve_publickey"]
    alice_file = k.path.with_name("invite-alice.json")
    bob_file = k.path.with_name("invite-bob.json")
    k.invite("collaborator", "alice", alice_file)
    k.invite("collaborator", "bob", bob_file)

    def console(invitation, script):
        return subprocess.run(["ip", "netns", "exec", console_ns, str(ENSEMBLE_BIN), "console", "--existing",
                               str(invitation)], input=script, capture_output=True, text=True, env=k.env, timeout=60)

    first = console(alice_file, "remote_value = 40 + 2\nprint('alice set', remote_value)\n")
    assert first.returncode == 0, first.stderr + k.stderr()
    assert "alice set 42" in first.stdout
    second = console(bob_file, "print('bob reads', remote_value * 10)\n")
    assert second.returncode == 0, second.stderr + k.stderr()
    assert "bob reads 420" in second.stdout
    assert k.alive(), "an attached console must leave the kernel running"

    # the kernel is not reachable from the consoles' host without a key
    plain = dict(conn)
    for field in ("curve_publickey", "curve_secretkey"):
        plain.pop(field)
    plain_file = k.path.with_name("plain.json")
    plain_file.write_text(json.dumps(plain))
    os.chmod(plain_file, 0o600)
    refused = subprocess.run(["ip", "netns", "exec", console_ns, "timeout", "10", str(ENSEMBLE_BIN), "console",
                              "--existing", str(plain_file)], input="print('should not run')\n",
                             capture_output=True, text=True, env=k.env, timeout=30)
    assert refused.returncode != 0
    assert "should not run" not in refused.stdout

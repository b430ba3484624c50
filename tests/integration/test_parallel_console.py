"""`ensemble console --engine N` in tmux, attached to an engine of a real cluster: the person at
the console sees what clients did on that engine, and can %debug the error a client's apply
raised there."""

import contextlib
import time

import pytest

from cluster_util import running
from conftest import ENSEMBLE_BIN
from parallel_fixtures import own_cluster  # noqa: F401
from tmux_driver import start_in_tmux

pytestmark = pytest.mark.ensemble_only


def divide_badly(x):
    local_secret = x * 1000 + 7
    return local_secret / 0


@pytest.mark.deadline(90)
def test_console_on_an_engine_sees_pushed_names_and_debugs_a_failed_apply(own_cluster, kernel_target, tmp_path):
    import ensemble as ipp

    c = own_cluster(n=2)
    rc = c.start_and_connect()
    rc[0].push({"a": 41}, block=True)
    with pytest.raises(ipp.RemoteError) as info:
        rc[0].apply_sync(divide_badly, 5)
    assert info.value.ename == "ZeroDivisionError"
    rc[1].push({"a": -1}, block=True)  # the other engine's namespace is another one

    with engine_console(c, kernel_target, tmp_path) as tmux:
        tmux.wait_for("In [", timeout=30)
        tmux.type_line("a + 1")
        screen = tmux.wait_for(": 42", timeout=20)
        assert "Out[" in screen
        tmux.type_line("%debug")
        tmux.wait_for("ipdb>", timeout=20)
        tmux.type_line("p local_secret")
        tmux.wait_for("\n5007\n", timeout=20)  # shown while the next ipdb> prompt waits
        tmux.type_line("q")
        screen = wait_for_prompt_after_debugger(tmux)
        session = screen[screen.index("%debug"):]
        assert "divide_badly()" in session and "return local_secret / 0" in session, screen
        assert "\n5007\n" in session, "the failing call's local, seen post mortem:\n" + screen
    assert all(running(pid) for pid in c.pids), "closing the console leaves the engine running"
    assert rc[0]["a"] == 41
    rc.close()


@pytest.mark.deadline(90)
def test_output_printed_before_an_input_prompt_is_shown_while_the_prompt_waits(own_cluster, kernel_target,
                                                                               tmp_path):
    c = own_cluster(n=1)
    c.start_and_connect()
    with engine_console(c, kernel_target, tmp_path) as tmux:
        tmux.wait_for("In [", timeout=30)
        # stdin and iopub are separate sockets, so the prompt can overtake the output printed
        # before it; the console waits for iopub to catch up. 15 tries make a lucky pass rare.
        for i in range(15):
            tmux.type_line("print('printed-%d'); answer = input('prompt-%d> ')" % (i, i))
            tmux.wait_for("prompt-%d>" % i, timeout=20)
            deadline = time.monotonic() + 1.0
            while "printed-%d\n" % i not in tmux.screen() and time.monotonic() < deadline:
                time.sleep(0.05)
            shown = "printed-%d\n" % i in tmux.screen()
            tmux.type_line("ok")
            tmux.wait_for("printed-%d\n" % i, timeout=10)
            assert shown, "the output printed before prompt %d was not shown while it waited" % i


@contextlib.contextmanager
def engine_console(c, kernel_target, tmp_path):
    """`ensemble console --engine 0` on cluster ``c``, in tmux; the tmux server is killed on exit
    (which ends the console, not the engine)."""
    env = kernel_target.kernel_env(tmp_path / "state")
    command = "%s console --history-file %s --engine 0 --cluster-id %s --profile-dir %s" % (
        ENSEMBLE_BIN, tmp_path / "console_history", c.cluster_id, c.profile_dir)
    tmux = start_in_tmux(command, env)
    try:
        yield tmux
    finally:
        tmux.run("kill-server", check=False)


def wait_for_prompt_after_debugger(tmux, timeout=20):
    """Waits until a fresh In [N]: prompt follows the last ipdb> prompt; returns the screen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = tmux.screen()
        tail = screen[screen.rfind("ipdb> q"):] if "ipdb> q" in screen else ""
        if "In [" in tail:
            return screen
        time.sleep(0.2)
    pytest.fail("no prompt after leaving the debugger; screen:\n%s" % tmux.screen())

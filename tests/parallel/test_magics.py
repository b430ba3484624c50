"""%px, %%px, %autopx, %pxresult, %pxconfig in an IPython InteractiveShell."""

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.io import capture_output

import ensemble as ipp


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    yield shell
    for name in list(shell.magics_manager.magics["line"]):
        if name.startswith(("px", "autopx", "pxresult", "pxconfig", "result")):
            shell.magics_manager.magics["line"].pop(name)
    shell.magics_manager.magics["cell"].pop("px", None)


def test_client_in_ipython_registers_px(ip, rc_factory):
    rc = rc_factory()
    assert "px" in ip.magics_manager.magics["line"]
    assert "px" in ip.magics_manager.magics["cell"]
    rc.close()


def test_px_blocking_runs_code_and_shows_stdout(ip, rc):
    v = rc[-1:]
    v.activate()
    v.block = True
    ip.run_line_magic("px", "a = 5")
    assert v["a"] == [5]
    with capture_output() as io:
        ip.run_line_magic("px", "print(a * 2)")
    assert "[stdout:3]" in io.stdout
    assert io.stdout.rstrip().endswith("10")
    with pytest.raises(ipp.CompositeError) as info:
        ip.run_line_magic("px", "1/0")
    with pytest.raises(ipp.RemoteError) as single:
        info.value.raise_exception()
    assert single.value.ename == "ZeroDivisionError"


def test_px_nonblocking_returns_async_result(ip, rc):
    v = rc[-1:]
    v.activate()
    v.block = False
    ip.run_line_magic("pxconfig", "--verbose")
    with capture_output() as io:
        ar = ip.run_line_magic("px", "print('hi')")
    assert isinstance(ar, ipp.AsyncResult)
    assert io.stdout.startswith("Async parallel execution")
    ar.get(5)
    with capture_output() as io:
        ip.run_line_magic("pxresult", "")
    assert "hi" in io.stdout


def test_cell_px_block_flags_and_targets_do_not_change_defaults(ip, rc):
    view = rc.activate(rc.ids)
    view.block = False
    ip.run_line_magic("pxconfig", "--verbose")
    with capture_output(display=False) as io:
        ip.run_cell_magic("px", "--block --targets 0", "x = 1")
    assert io.stdout.startswith("Parallel execution on engine(s): 0")
    assert view.block is False and view.targets == rc.ids
    assert rc[0]["x"] == 1
    with pytest.raises(ipp.CompositeError):
        rc[1:].pull("x", block=True)


def test_cell_px_group_outputs_by_engine(ip, rc):
    v = rc[:2]
    v.block = True
    v.activate()
    with capture_output(display=False) as io:
        ip.run_cell_magic("px", "--group-outputs=engine --no-stream",
                          "import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert io.stdout.splitlines() == ["[stdout:0] ", "out", "[stdout:1] ", "out"] or \
        io.stdout.splitlines() == ["[stdout:0]", "out", "[stdout:1]", "out"]
    assert "[stderr:0]" in io.stderr and "err" in io.stderr


def test_pxconfig_sets_targets_with_suffix(ip, rc):
    v = rc.activate(-1, "_tst")
    assert v.targets == rc.ids[-1]
    ip.run_line_magic("pxconfig_tst", "-t :")
    assert v.targets == rc.ids
    ip.run_line_magic("pxconfig_tst", "-t ::2")
    assert v.targets == rc.ids[::2]
    ip.run_line_magic("pxconfig_tst", "-t 1")
    assert v.targets == 1
    ip.run_line_magic("pxconfig_tst", "--block")
    assert v.block is True
    ip.run_line_magic("pxconfig_tst", "--noblock")
    assert v.block is False


def test_autopx_sends_cells_to_engines(ip, rc):
    v = rc[-1]
    v.activate()
    v.block = True
    with capture_output(display=False) as io:
        ip.run_line_magic("autopx", "")
        ip.run_cell("a = 5\nb = 12345")
        ip.run_cell("b *= 2")
        ip.run_cell("print(b)")
        ip.run_cell("%autopx")
    out = io.stdout
    assert out.startswith("%autopx enabled")
    assert out.rstrip().endswith("%autopx disabled")
    assert "24690" in out
    assert v["b"] == 24690
    assert "b" not in ip.user_ns

"""The parallel magics (%px, %%px, %autopx, %pxresult, %pxconfig, and suffixed copies) in an
IPython InteractiveShell in this process, driving a real two-engine cluster."""

import pytest

import ensemble as ipp
from parallel_fixtures import rc, started  # noqa: F401

pytestmark = pytest.mark.ensemble_only


def interactive_shell():
    """The process's InteractiveShell, its history kept in memory (not in the session's
    temporary IPYTHONDIR, which is gone by the time the shell's atexit hook writes)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=config)


@pytest.fixture
def shell(rc):
    """An InteractiveShell whose %px magics drive a fresh blocking view on every engine."""
    ip = interactive_shell()
    ip.colors = "NoColor"
    view = rc.activate()  # registers %px & co. for a new view (defaults reset)
    assert view.block is True
    rc[:].execute("px_value = None", block=True)
    yield ip
    magics = ip.magics_manager.registry.get("ParallelMagics")
    if magics is not None and magics._autopx:
        magics._disable_autopx()


def run(ip, cell):
    """Runs ``cell``; returns the ExecutionResult (its error is not re-raised)."""
    return ip.run_cell(cell, store_history=False)


@pytest.mark.deadline(30)
def test_px_runs_a_line_on_every_engine_and_shows_their_outputs(shell, rc, capsys):
    result = run(shell, "%px px_value = 5")
    assert result.success, result.error_in_exec
    assert rc[:]["px_value"] == [5, 5]
    capsys.readouterr()
    assert run(shell, "%px print('hello from', px_value)").success
    out = capsys.readouterr().out
    assert "[stdout:0] \nhello from 5" in out and "[stdout:1] \nhello from 5" in out
    assert run(shell, "%px px_value * 2").success
    out = capsys.readouterr().out
    assert "Out[0:" in out and "Out[1:" in out and out.count("10") >= 2, out


@pytest.mark.deadline(30)
def test_cell_px_runs_a_cell_on_chosen_targets(shell, rc, capsys):
    assert run(shell, "%%px -t ::2\npx_value = 'cell'\nprint('ran', px_value)").success
    assert rc[:]["px_value"] == ["cell", None], "only engine 0 ran the cell"
    out = capsys.readouterr().out
    assert "[stdout:0] \nran cell" in out and "[stdout:1]" not in out
    assert run(shell, "%%px --targets 1\npx_value = 'one'").success
    assert rc[:]["px_value"] == ["cell", "one"]


@pytest.mark.deadline(30)
def test_px_raises_the_engines_error_in_the_shell(shell, capsys):
    result = run(shell, "%px 1 / 0")
    assert isinstance(result.error_in_exec, ipp.RemoteError), result.error_in_exec
    assert "ZeroDivisionError" in str(result.error_in_exec)
    result = run(shell, "%%px -t 1\nraise KeyError('only here')")
    assert isinstance(result.error_in_exec, ipp.RemoteError)
    assert "only here" in str(result.error_in_exec)


@pytest.mark.deadline(30)
def test_noblock_cell_px_returns_at_once_and_pxresult_shows_its_outputs(shell, rc, capsys):
    result = run(shell, "%%px --noblock\nimport time; time.sleep(0.5); print('after the wait')")
    ar = result.result
    assert isinstance(ar, ipp.AsyncResult) and not ar.ready()
    assert "after the wait" not in capsys.readouterr().out
    assert run(shell, "%pxresult").success
    out = capsys.readouterr().out
    assert "[stdout:0] \nafter the wait" in out and "[stdout:1] \nafter the wait" in out
    assert ar.ready()


@pytest.mark.deadline(30)
def test_pxresult_after_a_streamed_px_shows_every_engines_header(shell, rc, capsys):
    rc[0]["rank"], rc[1]["rank"] = 0, 1
    # engine 0 prints last while streaming, and first again in %pxresult
    cell = "%%px --stream\nimport time\ntime.sleep(1.0 if rank == 0 else 0)\nprint('streamed')"
    assert run(shell, cell).success
    out = capsys.readouterr().out
    assert out.index("[stdout:1] \nstreamed") < out.index("[stdout:0] \nstreamed"), out
    assert run(shell, "%pxresult").success
    out = capsys.readouterr().out
    assert out.count("[stdout:0] \nstreamed") == 1 and out.count("[stdout:1] \nstreamed") == 1, out


@pytest.mark.deadline(30)
def test_pxresult_before_any_px_is_a_usage_error(rc, capsys):
    ip = interactive_shell()
    rc.activate()
    result = run(ip, "%pxresult")
    assert not result.success
    assert "%pxresult recalls last %px result" in capsys.readouterr().err + capsys.readouterr().out


@pytest.mark.deadline(30)
def test_pxconfig_changes_the_defaults_of_later_px_calls(shell, rc, capsys):
    assert run(shell, "%pxconfig --noblock --targets 1 --verbose").success
    result = run(shell, "%px px_value = 'configured'")
    ar = result.result
    assert isinstance(ar, ipp.AsyncResult), "--noblock: %px returns an AsyncResult"
    ar.get(10)
    assert rc[:]["px_value"] == [None, "configured"], "--targets 1"
    assert "Async parallel execution on engine(s): 1" in capsys.readouterr().out
    assert run(shell, "%pxconfig --block --targets all --no-verbose").success
    result = run(shell, "%px px_value = 'back'")
    assert result.success and result.result is None
    assert rc[:]["px_value"] == ["back", "back"]
    assert "Parallel execution" not in capsys.readouterr().out


@pytest.mark.deadline(30)
def test_autopx_sends_every_cell_to_the_engines_until_toggled_off(shell, rc, capsys):
    assert run(shell, "%autopx").success
    assert "%autopx enabled" in capsys.readouterr().out
    run(shell, "autopx_only = 'remote'\nprint('on the engine')")
    out = capsys.readouterr().out
    assert "[stdout:0] \non the engine" in out and "[stdout:1] \non the engine" in out
    run(shell, "%autopx")
    assert "%autopx disabled" in capsys.readouterr().out
    assert rc[:]["autopx_only"] == ["remote", "remote"]
    assert "autopx_only" not in shell.user_ns, "the cell did not run locally"
    assert run(shell, "local_after = 1").success and shell.user_ns["local_after"] == 1
    assert rc[:].apply_sync(ipp.interactive(lambda: "local_after" in globals())) == [False, False]


@pytest.mark.deadline(30)
def test_local_cell_px_also_runs_the_cell_here(shell, rc):
    assert run(shell, "%%px --local\nboth_sides = 3 * 14").success
    assert shell.user_ns["both_sides"] == 42
    assert rc[:]["both_sides"] == [42, 42]


@pytest.mark.deadline(30)
def test_activate_with_a_suffix_adds_magics_bound_to_another_view(shell, rc, capsys):
    odd = rc[1]
    odd.block = True
    odd.activate("_odd")
    assert run(shell, "%px_odd px_value = 'odd'").success
    assert rc[:]["px_value"] == [None, "odd"]
    assert run(shell, "%%px_odd\nprint('suffixed cell')").success
    out = capsys.readouterr().out
    assert "suffixed cell" in out
    assert run(shell, "%pxconfig_odd --noblock").success
    ar = run(shell, "%px_odd px_value = 'odd again'").result
    assert isinstance(ar, ipp.AsyncResult)
    ar.get(10)
    assert run(shell, "%pxresult_odd").success
    assert run(shell, "%px px_value = 'plain'").success, "the unsuffixed %px still blocks"
    assert rc[:]["px_value"] == ["plain", "plain"]

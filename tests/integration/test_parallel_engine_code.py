"""Code sent to engines as text (view.execute, view.run, %px): engines take it as IPython
kernels do, indented blocks included."""

import textwrap

import pytest

from parallel_fixtures import rc, started  # noqa: F401

pytestmark = pytest.mark.ensemble_only


@pytest.mark.deadline(30)
def test_execute_of_an_indented_triple_quoted_block_runs_it_dedented(rc):
    view = rc[:]
    ar = view.execute("""
        indented_a = 1
        if indented_a:
            indented_b = indented_a + 1
    """, block=True)
    assert ar.successful()
    assert view["indented_b"] == [2, 2]


@pytest.mark.deadline(30)
def test_execute_of_one_indented_line_runs_it(rc):
    rc[:].execute("    indented_line = 'ok'", block=True)
    assert rc[:]["indented_line"] == ["ok", "ok"]


@pytest.mark.deadline(30)
def test_a_line_indented_less_than_the_first_still_fails_as_ipython_fails_it(rc):
    ar = rc[0].execute("    bad_a = 1\n  bad_b = 2\n", block=False)
    with pytest.raises(Exception) as raised:
        ar.get(timeout=10)
    assert "IndentationError" in str(raised.value) or "SyntaxError" in str(raised.value)


@pytest.mark.deadline(30)
def test_run_of_a_file_written_indented_runs_it(rc, tmp_path):
    script = tmp_path / "indented.py"
    script.write_text("    run_indented = 40\n    run_indented += 2\n")
    rc[:].run(str(script), block=True)
    assert rc[:]["run_indented"] == [42, 42]


@pytest.mark.deadline(30)
def test_px_magics_take_indented_code(rc):
    from test_parallel_magics import interactive_shell

    shell = interactive_shell()
    rc.activate()
    assert shell.run_cell("%px   px_indented = 1", store_history=False).success
    cell = textwrap.dedent("""\
        %%px
            px_block = 2
            px_block += 1
        """)
    assert shell.run_cell(cell, store_history=False).success
    assert rc[:]["px_indented"] == [1, 1]
    assert rc[:]["px_block"] == [3, 3]


@pytest.mark.deadline(30)
def test_a_function_of_a_module_the_engine_imports_keeps_the_modules_state_there(rc, tmp_path, monkeypatch):
    (tmp_path / "engine_state_mod.py").write_text(textwrap.dedent("""\
        import threading
        lock = threading.Lock()  # no pickle of it: the engine's own module has one
        calls = 0
        def count():
            global calls
            with lock:
                calls += 1
            return calls
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import engine_state_mod

    rc[0].execute("import sys; sys.path.insert(0, %r)" % str(tmp_path), block=True)
    assert [rc[0].apply_sync(engine_state_mod.count) for _ in range(3)] == [1, 2, 3]
    assert engine_state_mod.calls == 0  # the client's module is not the engine's


def _plot_and_name_the_backend():
    import matplotlib
    import matplotlib.pyplot as plt

    plt.plot([1, 2])
    plt.show()
    return matplotlib.get_backend()


@pytest.mark.deadline(90)
def test_an_engine_keeps_matplotlibs_own_backend_and_sends_no_figures(rc):
    # as ipyparallel's engines: the kernel's inline default is for notebooks, not workers
    ar = rc[0].apply_async(_plot_and_name_the_backend)
    assert ar.get(60).lower() == "agg"
    assert ar.outputs == []


def _write_below_python():
    import os
    import subprocess

    subprocess.run(["echo", "from a child process"], check=True)
    os.write(1, b"from the descriptor\n")
    return "done"


@pytest.mark.deadline(60)
def test_what_a_task_prints_below_python_reaches_the_client(rc):
    # child processes and C code write to descriptor 1, as under ipyparallel's engines
    ar = rc[0].apply_async(_write_below_python)
    assert ar.get(10) == "done"
    ar.wait_for_output(10)
    assert ar.stdout == "from a child process\nfrom the descriptor\n"
    run = rc[1].execute("import os; os.write(2, b'to stderr\\n')", block=True)
    assert run.stderr == "to stderr\n"

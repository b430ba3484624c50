"""What IPython kernels do that notebooks rely on: a module beside the notebook imports;
`pwd`, `ls`, `cd dir` work as one-line cells; and top-level `await` runs on one loop for the
kernel's life, so a task one cell starts goes on in the next."""

import pytest


def _ok(kernel, code):
    res = kernel.execute(code)
    assert res.status == "ok", res.traceback_text
    return res


def test_a_module_in_the_working_directory_imports(start_kernel, tmp_path):
    (tmp_path / "helper_beside_the_notebook.py").write_text("ANSWER = 42\n")
    kernel = start_kernel(cwd=str(tmp_path))
    res = _ok(kernel, "import helper_beside_the_notebook\nprint(helper_beside_the_notebook.ANSWER)")
    assert res.stdout.strip() == "42"
    # '' stands for whatever the working directory is when the import runs
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "helper_in_sub.py").write_text("WHERE = 'sub'\n")
    res = _ok(kernel, "import os\nos.chdir('sub')\nimport helper_in_sub\nprint(helper_in_sub.WHERE)")
    assert res.stdout.strip() == "sub"


def test_magics_and_aliases_run_without_percent_in_a_one_line_cell(start_kernel, tmp_path):
    (tmp_path / "listed.txt").write_text("the contents\n")
    (tmp_path / "somewhere").mkdir()
    kernel = start_kernel(cwd=str(tmp_path))
    assert "listed.txt" in _ok(kernel, "ls").stdout
    assert _ok(kernel, "cat listed.txt").stdout.strip() == "the contents"
    _ok(kernel, "cd somewhere")
    assert _ok(kernel, "import os; print(os.getcwd())").stdout.strip() == str(tmp_path / "somewhere")
    assert str(tmp_path / "somewhere") in str(_ok(kernel, "pwd").results[0]["data"]["text/plain"])


def test_a_name_of_the_users_own_shadows_the_magic_and_only_one_line_cells_are_magic(start_kernel):
    kernel = start_kernel()
    _ok(kernel, "ls = 'my variable'")
    assert _ok(kernel, "ls").results[0]["data"]["text/plain"] == "'my variable'"
    res = kernel.execute("x = 1\npwd", stop_on_error=False)  # as IPython: no automagic past one line
    assert res.status == "error" and res.content["ename"] == "NameError"


def test_a_task_started_in_one_cell_runs_while_a_later_cell_awaits(start_kernel):
    kernel = start_kernel()
    _ok(kernel, "import asyncio\nticks = []\n"
                "async def background():\n    while True:\n        ticks.append(1)\n"
                "        await asyncio.sleep(0.01)\n")
    _ok(kernel, "task = asyncio.Task(background())")
    assert _ok(kernel, "await asyncio.sleep(0.2)\nprint(len(ticks) > 3)").stdout.strip() == "True"
    _ok(kernel, "task.cancel()")


@pytest.mark.ensemble_only  # ipykernel runs cells inside its loop, where asyncio.run() is refused
def test_top_level_await_and_tasks_still_work_after_a_cell_called_asyncio_run(start_kernel):
    kernel = start_kernel()
    _ok(kernel, "import asyncio\nasyncio.run(asyncio.sleep(0))")
    _ok(kernel, "started = asyncio.Task(asyncio.sleep(0, result='task done'))")
    assert _ok(kernel, "print(await started)").stdout.strip() == "task done"
    # the IPython path awaits on the same loop
    _ok(kernel, "asyncio.run(asyncio.sleep(0))")
    _ok(kernel, "again = asyncio.Task(asyncio.sleep(0, result=2))")
    assert _ok(kernel, "echoed = !echo shell\nprint(echoed[0], await again)").stdout.strip() == "shell 2"

"""Startup files ($PYTHONSTARTUP, the profile's startup/ directory) run in the kernel's namespace
before the first cell, as they do in IPython kernels."""

import pytest


def _cell(kernel, code):
    reply = kernel.execute(code)
    assert reply.status == "ok", reply.traceback_text
    return reply.stdout


def test_startup_files_run_in_order_in_the_namespace_before_the_first_cell(start_kernel, tmp_path,
                                                                           kernel_target):
    ipython_dir = tmp_path / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    python_startup = tmp_path / "pythonstartup.py"
    python_startup.write_text("order = ['PYTHONSTARTUP']\nseen_file = __file__\n")
    (startup / "10-first.py").write_text("order.append('first')\n")
    (startup / "20-second.ipy").write_text("order.append('second')\n%alias_magic startup_alias time\n")
    (startup / "README.txt").write_text("order.append('not python')\n")
    kernel = start_kernel(IPYTHONDIR=str(ipython_dir), PYTHONSTARTUP=str(python_startup))
    out = _cell(kernel, "print(order, seen_file.endswith('pythonstartup.py'), '__file__' in dir())")
    assert out.strip() == "['PYTHONSTARTUP', 'first', 'second'] True False"
    # the .ipy file ran with IPython syntax: its magic exists
    assert _cell(kernel, "print('startup_alias' in get_ipython().magics_manager.magics['line'])").strip() == "True"


def test_a_failing_startup_file_does_not_cost_the_kernel(start_kernel, tmp_path, kernel_target):
    if not kernel_target.is_ensemble:
        pytest.skip("IPython skips the files after a failing one; Ensemble runs them")
    ipython_dir = tmp_path / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "05-broken.py").write_text("raise ValueError('a typo in a startup file')\n")
    (startup / "06-exits.py").write_text("import sys\nsys.exit(3)\n")
    (startup / "10-after.py").write_text("after_the_broken_ones = True\n")
    kernel = start_kernel(IPYTHONDIR=str(ipython_dir))
    assert _cell(kernel, "print(after_the_broken_ones)").strip() == "True"

"""``view.use_dill()``: functions and values travel with dill, which sends what cloudpickle
cannot, as in ipyparallel's "Using Dill" example. The user's functions live in a script's
``__main__``, as they do in a notebook (dill sends functions of other modules by reference)."""

import subprocess
import sys

import pytest

pytest.importorskip("dill")
pytestmark = pytest.mark.ensemble_only

SCRIPT = r'''
import os, sys
import ensemble as ipp

path = sys.argv[1]

def make_closure(a, path):
    """A function closed over an open file: cloudpickle cannot send it, dill can."""
    import os
    f = open(path, "a")
    def has_closure(b):
        product = a * b
        f.write("%i: %g\n" % (os.getpid(), product))
        f.flush()
        return product
    return has_closure

with ipp.Cluster(n=2, profile_dir=sys.argv[2]) as client:
    closed = make_closure(5, path)
    view = client.load_balanced_view()
    try:
        view.apply_sync(closed, 3)
        print("cloudpickle sent it")
    except Exception as exc:
        print("cloudpickle refused:", type(exc).__name__)
    client[:].use_dill()
    print("engine:", view.apply_sync(closed, 3))
    remote_closure = view.apply_sync(make_closure, 4, path)  # made on an engine, sent back
    print("here:", remote_closure(5))
    client[:]["bar"] = lambda: 2 * foo
    client[:].execute("foo = 5", block=True)
    print("reference:", client[:].apply_sync(ipp.Reference("bar")))
    client[:].use_cloudpickle()
    print("back:", view.apply_sync(lambda x: x + 1, 1))
    print("pid:", os.getpid())
'''


@pytest.mark.deadline(90)
def test_use_dill_sends_a_closure_over_an_open_file_both_ways(tmp_path):
    script = tmp_path / "dill_script.py"
    script.write_text(SCRIPT)
    path = tmp_path / "dilltest"
    done = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / "profile")],
                          capture_output=True, text=True, timeout=80)
    assert done.returncode == 0, done.stderr
    out = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert out["cloudpickle refused"] == "PicklingError"
    assert out["engine"] == "15" and out["here"] == "20"
    assert out["reference"] == "[10, 10]" and out["back"] == "2"
    lines = path.read_text().splitlines()
    assert lines[0].endswith(": 15") and lines[0] != "%s: 15" % out["pid"], "15 was written on an engine"
    assert lines[-1] == "%s: 20" % out["pid"], "20 was written here, by the closure the engine sent"

"""ipyparallel's own example notebooks (Debian's python-ipyparallel-doc), run with nbclient on
ipykernel with ``ipyparallel`` replaced by ``ensemble``: code written for ipyparallel, by its
authors, that nobody here wrote. Each must run through with only the errors its authors meant
(a cell that shows a failure) or that this machine causes (a file the package leaves out)."""

import os
import re
import signal
import subprocess

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from conftest import ENSEMBLE_BIN

pytestmark = pytest.mark.ensemble_only

EXAMPLES = "/usr/share/doc/python-ipyparallel-doc/html/_sources/examples"

# notebook -> {code cell index: exception name} of the errors expected in it
EXPECTED_ERRORS = {
    # cell 11 imports task_mod.py, which the package leaves out; 16-18 use what it defines
    "Futures": {11: "ModuleNotFoundError", 16: "NameError", 17: "NameError", 18: "NameError"},
    "Parallel Magics": {23: "CompositeError"},  # "invalid shape", on purpose
    # on purpose: the standard pickler, then a closure over an open file before use_dill()
    "Using Dill": {5: "AttributeError", 9: "PicklingError"},
    "Parallel Decorator and map": {},
    "Monte Carlo Options": {},
    "joblib": {},
    "dask": {12: "ZeroDivisionError"},  # a failing task, shown on purpose
    "broadcast/memmap Broadcast": {},
}


class _Client(NotebookClient):
    def on_comm_open_jupyter_widget(self, msg):
        # nbclient 0.7 reads a "state" that ipywidgets 8 no longer sends (tqdm's progress
        # bars): the widget is not kept, as no front end shows it here
        return None


def _cluster(env, *args):
    subprocess.run([str(ENSEMBLE_BIN), "cluster", *args], env=env, check=True, timeout=60,
                   stdout=subprocess.DEVNULL)


def _our_processes(marker):
    """Processes whose command line names ``marker`` (this test's IPython directory)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory):
    """The kernels' environment: an IPython directory of its own, where a 4-engine cluster
    runs in the default profile and in "mpi" (for the notebooks that connect with Client())."""
    ipython_dir = str(tmp_path_factory.mktemp("ipython"))
    env = dict(os.environ, IPYTHONDIR=ipython_dir, ENSEMBLE_BIN=str(ENSEMBLE_BIN),
               PYTHONPATH=str(ENSEMBLE_BIN.parent.parent / "python"))
    try:
        for profile in ("default", "mpi"):
            _cluster(env, "start", "-n", "4", "--profile", profile, "--daemonize")
        yield env
    finally:
        for profile in ("default", "mpi"):
            subprocess.run([str(ENSEMBLE_BIN), "cluster", "stop", "--profile", profile], env=env,
                           timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pid in _our_processes(ipython_dir):  # what a notebook's own cluster left behind
            os.kill(pid, signal.SIGKILL)


def _errors(nb):
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    return {i: out["ename"] for i, cell in enumerate(code) for out in cell.get("outputs", [])
            if out.get("output_type") == "error"}


@pytest.mark.deadline(240)
@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_ipyparallels_example_notebook_runs_with_ensemble(name, notebook_env, tmp_path):
    path = os.path.join(EXAMPLES, name + ".ipynb.txt")  # scripts/install-deps.sh installs them
    with open(path) as f:
        nb = nbformat.reads(f.read(), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = re.sub(r"\bipyparallel\b", "ensemble", cell.source)
    # ipc, not tcp: jupyter_client picks free tcp ports that the kernel binds a moment later,
    # and the clusters' engines, binding ports of their own meanwhile, took one (a CI run's
    # "Address already in use")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    client = _Client(nb, km=km, timeout=120, startup_timeout=60, allow_errors=True,
                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=notebook_env)
    errors = _errors(nb)
    details = {i: out.get("evalue", "")[:300] for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code")
               for out in cell.get("outputs", []) if out.get("output_type") == "error"}
    assert errors == EXPECTED_ERRORS[name], details

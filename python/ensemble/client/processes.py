"""The processes of a cluster as a Cluster object sees them: which pids are still Ensemble's,
and ending them."""

import os
import signal
import time


# The programs an MPI engine set runs as (``ensemble cluster start --mpi``): its mpiexec,
# through which signals and stops reach its engines.
_MPI_LAUNCHERS = {"mpiexec", "mpirun", "orterun", "prterun", "mpiexec.hydra", "mpiexec.openmpi",
                  "mpirun.openmpi", "mpiexec.mpich", "mpirun.mpich"}


def ours(pid):
    """Whether ``pid`` is a live ensemble process, or the MPI launcher of an engine set (once
    a process is gone its pid may be another program's)."""
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    name = os.path.basename(exe.replace(" (deleted)", ""))
    return state != "Z" and (name == "ensemble" or name in _MPI_LAUNCHERS)


def end_processes(pids, grace=5.0):
    """SIGTERM, then SIGKILL for whatever is left after ``grace`` seconds (engines, or any
    process of a cluster)."""
    live = [pid for pid in pids if ours(pid)]
    for pid in live:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(ours(pid) for pid in live):
        time.sleep(0.02)
    for pid in live:
        if ours(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

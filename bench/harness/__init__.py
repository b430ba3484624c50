"""The kernel benchmark harness behind bench/kernel_bench.py, one job per module:

  common.py         clock, statistics and /proc helpers, the KernelFailed error
  client.py         the minimal raw-zmq Jupyter client every timing goes through
  processes.py      kernel processes (KernelManager) and killing every child at exit
  metrics.py        the timed measurements: startup, round trip, pipelined, print, 10 MB
  floor_servers.py  child-process code of the calibration servers (echo, fake kernel)
  floors.py         the harness side of those servers: the round-trip floors
  runner.py         the run: profiles, interleaving of kernels, collecting results
  report.py         markdown table, floors and targets
  cli.py            command line, signals, output files
"""

import sys

# jupyter_client resolves the `python3` spec by importing ipykernel.kernelspec, which drags
# ipykernel, IPython and debugpy/pydevd into this timing client (and prints a pydevd
# warning).  Blocking that import makes it read /usr/share/jupyter/kernels/python3 instead.
# It is done here so that it precedes every jupyter_client import in the package.
sys.modules.setdefault("ipykernel.kernelspec", None)

#!/usr/bin/python3
"""Benchmark Jupyter kernels side by side: Ensemble against xeus-python and ipykernel.

Run with the Debian interpreter, which has jupyter_client and pyzmq:

    /usr/bin/python3 bench/kernel_bench.py [--kernels ensemble,xpython,python3]
        [--quick] [--json out.json] [--markdown out.md]

(bench/run.sh installs the ensemble kernelspec from build/bin/ensemble first.)

Metrics, all measured in one run with every kernel, interleaved per metric:
  1. startup        KernelManager.start_kernel() -> first kernel_info_reply on shell
                    (fresh kernel per sample, median)
  2. round trip     execute_request('pass') -> execute_reply AND iopub idle (median, p99),
                    with two floors timed alongside: a libzmq echo (client + transport)
                    and a fake kernel sending the four messages of an execute (protocol)
  3. pipelined      K execute_requests sent back to back -> all K replies + last idle
  4. print 100k     `for i in range(100000): print(i)`: stream messages, bytes, bytes/s,
                    completeness and order
  5. RSS            VmRSS of the kernel pid at ready and after all the work
  6. 10 MB result   `'x' * 10_000_000` as last expression -> iopub idle

The client is a minimal one: jupyter_client.session.Session only signs the
pre-serialized requests; replies are read with raw pyzmq recv_multipart and
classified by byte-substring checks (no HMAC verification, no date parsing,
JSON decoding only where needed, mostly after the timer stopped).  Waiting is
a blocking zmq poll, never a sleep.

The code is in the package next to this file, bench/harness/ (its __init__.py lists
the modules).
"""

import sys

from harness.cli import main  # bench/ is sys.path[0] when this file is run as a script

if __name__ == "__main__":
    sys.exit(main())

"""Signals that reach a client's process (Ctrl-C, a handler of the user's) interrupt the
ZeroMQ calls of whichever of its threads they land on; no request or reply may be lost
for that, and the process may not crash (it did: an interrupted receive left the C++
core without the GIL, in 1 of 60 Ctrl-C tests under load)."""

import subprocess
import sys

import pytest

from parallel_fixtures import started  # noqa: F401

pytestmark = pytest.mark.ensemble_only

_STORM = """
import os, signal, threading, time
import ensemble as ipp
signal.signal(signal.SIGUSR1, lambda *args: None)  # a handler: the calls are interrupted, not ended
rc = ipp.Client(url_file=%r)
rc.wait_for_engines(2, timeout=20)
stop = threading.Event()

def storm():
    while not stop.is_set():
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.0002)

threading.Thread(target=storm, daemon=True).start()
lview, one = rc.load_balanced_view(), rc[0]
deadline = time.monotonic() + 3
rounds = 0
while time.monotonic() < deadline:
    assert one.apply_sync(abs, -rounds) == rounds
    burst = [lview.apply_async(abs, -i) for i in range(200)]  # held back and sent together
    assert [ar.get(30) for ar in burst] == list(range(200))
    assert rc[:].apply_sync(abs, -1) == [1, 1]
    rounds += 1
stop.set()
rc.close()
print("rounds", rounds, flush=True)
"""


@pytest.mark.deadline(90)
def test_a_storm_of_signals_loses_no_request_and_crashes_nothing(started):
    done = subprocess.run([sys.executable, "-c", _STORM % started.client_file],
                          capture_output=True, text=True, timeout=75)
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    assert words[0] == "rounds" and int(words[1]) > 0, done.stdout + done.stderr

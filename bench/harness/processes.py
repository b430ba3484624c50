"""Kernel processes and making sure no child process outlives the run.

Every KernelManager and every other child (the floor servers) is registered here the
moment it is started; cleanup_all() kills them all.  cli.py calls it on exit, error,
Ctrl-C and SIGTERM/SIGHUP, and runner.py in its `finally`.
"""

import os
import signal

from jupyter_client.manager import KernelManager

from .client import KernelClient
from .common import now_ns

_live_kernel_managers = []  # every KernelManager ever started; killed at exit whatever happens
_child_processes = []  # other child processes (the floor servers)


def register_child(proc):
    """Have cleanup_all() kill this subprocess.Popen too."""
    _child_processes.append(proc)
    return proc


def kill_kernel_manager(km):
    proc = getattr(getattr(km, "provisioner", None), "process", None)
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # launch_kernel starts a new session: pgid == pid
        except OSError:
            try:
                proc.kill()
            except OSError:
                pass
    try:
        proc.wait(timeout=5)
    except Exception:
        pass


def cleanup_all():
    while _child_processes:
        p = _child_processes.pop()
        if p.poll() is None:
            p.kill()
        try:
            p.wait(timeout=5)
        except Exception:
            pass
    while _live_kernel_managers:
        km = _live_kernel_managers.pop()
        kill_kernel_manager(km)
        try:
            km.cleanup_resources()
        except Exception:
            pass


class Kernel(KernelClient):
    """One kernel launched from its kernelspec by jupyter_client, plus the minimal client for it."""

    def __init__(self, name, ctx, tmpdir, env, tag):
        super().__init__(name, ctx)
        self.log_path = os.path.join(tmpdir, f"{name}-{tag}.log")
        self.env = env
        self.km = KernelManager(kernel_name=name,
                                connection_file=os.path.join(tmpdir, f"{name}-{tag}.json"))
        self.km.shutdown_wait_time = 3.0
        self.km.kernel_spec  # resolve the spec outside the timed region
        self.logf = None

    def start(self):
        """Launch the process and connect; returns the ns timestamp taken just before launch."""
        self.logf = open(self.log_path, "wb")
        _live_kernel_managers.append(self.km)
        t0 = now_ns()
        self.km.start_kernel(env=self.env, stdout=self.logf, stderr=self.logf)
        ci = self.km.get_connection_info()
        url = f"{ci['transport']}://{ci['ip']}:" if ci["transport"] == "tcp" else f"{ci['transport']}://{ci['ip']}-"
        self.connect(self.km.session, url + str(ci["shell_port"]), url + str(ci["iopub_port"]))
        return t0

    @property
    def proc(self):
        return self.km.provisioner.process

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, now=True):
        self.close_sockets()
        try:
            self.km.shutdown_kernel(now=now)
        except Exception:
            kill_kernel_manager(self.km)
        kill_kernel_manager(self.km)  # no-op if already gone
        if self.km in _live_kernel_managers:
            _live_kernel_managers.remove(self.km)
        if self.logf:
            self.logf.close()
            self.logf = None

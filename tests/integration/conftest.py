"""Shared fixtures for Ensemble's integration tests.

The kernel under test is chosen by ``ENSEMBLE_TEST_KERNEL`` (default
``ensemble``).  With ``ENSEMBLE_TEST_KERNEL=python3`` the same suite runs
against ipykernel, which is how the tests themselves are checked: every test
not marked ``ensemble_only`` must pass there too.

Everything a kernel could write (history, IPython profile, matplotlib cache,
connection files, Jupyter config) is redirected into a temporary directory
so that the suite never touches the user's home directory.
"""

import json
import os
import sys
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Callable, Dict, List, Optional

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager
from jupyter_kernel_test.msgspec_v5 import schema_fragments, validate_message

REPO = Path(__file__).resolve().parents[2]
ENSEMBLE_BIN = Path(os.environ.get("ENSEMBLE_BIN") or REPO / "build" / "bin" / "ensemble")
# The built Python package (build/python), for tests that import it directly.
if (ENSEMBLE_BIN.parent.parent / "python").is_dir():
    sys.path.insert(0, str(ENSEMBLE_BIN.parent.parent / "python"))
KERNEL_NAME = os.environ.get("ENSEMBLE_TEST_KERNEL") or "ensemble"
IS_ENSEMBLE = KERNEL_NAME.startswith("ensemble")

DEFAULT_TEST_TIMEOUT = 60.0  # seconds, per test; override with @pytest.mark.deadline(s)
STARTUP_TIMEOUT = 60.0
REPLY_TIMEOUT = 30.0

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


# --------------------------------------------------------------------------
# pytest hooks
# --------------------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "ensemble_only: behaviour that Ensemble guarantees but ipykernel does not; "
        "skipped unless ENSEMBLE_TEST_KERNEL names an ensemble kernel",
    )
    config.addinivalue_line(
        "markers",
        "deadline(seconds): per-test wall clock limit (default %d s), enforced with SIGALRM"
        % DEFAULT_TEST_TIMEOUT,
    )


def pytest_collection_modifyitems(config, items):
    # ENSEMBLE_TEST_ALL=1 runs ensemble_only tests against another kernel too
    # (useful to see that they fail there, i.e. that they test something).
    if IS_ENSEMBLE or os.environ.get("ENSEMBLE_TEST_ALL") == "1":
        return
    skip = pytest.mark.skip(
        reason="ensemble_only: kernel under test is %r, not Ensemble" % KERNEL_NAME
    )
    for item in items:
        if "ensemble_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return "kernel under test: %s (ensemble binary: %s)" % (KERNEL_NAME, ENSEMBLE_BIN)


class DeadlineExceeded(BaseException):
    """Raised by SIGALRM wherever the main thread is: a BaseException, as KeyboardInterrupt,
    so that code guarding against bad input with ``except Exception`` (a client reading a
    reply on the waiting thread) does not swallow it and the test fails at its deadline."""


@pytest.fixture(autouse=True)
def _deadline(request):
    """Fail any test that runs longer than its deadline (SIGALRM based)."""
    marker = request.node.get_closest_marker("deadline")
    seconds = float(marker.args[0]) if marker else DEFAULT_TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise DeadlineExceeded("test exceeded its %.0f s deadline" % seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------
# kernelspec environment
# --------------------------------------------------------------------------


@dataclass
class KernelTarget:
    """Which kernelspecs the tests use, and where they may write."""

    name: str  # the kernel under test
    message_name: str  # same kernel, interrupt_mode "message"
    signal_name: str  # same kernel, interrupt_mode "signal"
    is_ensemble: bool
    root: Path  # session temporary directory
    jupyter_path: Path  # exported as JUPYTER_PATH
    spec_argv: List[str] = field(default_factory=list)

    def kernel_env(self, state_dir: Path, **extra: str) -> Dict[str, str]:
        """Environment for one kernel process, with its own history file."""
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["ENSEMBLE_HISTORY"] = str(state_dir / "history.sqlite")
        env["IPYTHONDIR"] = str(state_dir / "ipython")
        env.update(extra)
        return env


def _write_spec(kernels_dir: Path, name: str, spec: dict) -> None:
    d = kernels_dir / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "kernel.json").write_text(json.dumps(spec, indent=1))


def _install_ensemble_spec(prefix: Path) -> None:
    if not ENSEMBLE_BIN.exists():
        pytest.fail(
            "Ensemble binary not found at %s (set ENSEMBLE_BIN, or run against "
            "ipykernel with ENSEMBLE_TEST_KERNEL=python3)" % ENSEMBLE_BIN,
            pytrace=False,
        )
    cmd = [str(ENSEMBLE_BIN), "kernelspec", "install", "--prefix", str(prefix), "--name", "ensemble"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.fail(
            "%s failed (rc=%d)\nstdout: %s\nstderr: %s"
            % (" ".join(cmd), proc.returncode, proc.stdout, proc.stderr),
            pytrace=False,
        )


@pytest.fixture(scope="session", autouse=True)
def kernel_target():
    """Make a private Jupyter environment holding the kernelspecs under test.

    Installs the Ensemble kernelspec (when testing Ensemble), writes a
    signal-interrupt and a message-interrupt variant of the kernel under test
    and exports JUPYTER_PATH (plus the other Jupyter/IPython directories) for
    this process and every child it starts.
    """
    root = Path(tempfile.mkdtemp(prefix="ensemble-it-"))
    jupyter_path = root / "share" / "jupyter"
    kernels_dir = jupyter_path / "kernels"
    kernels_dir.mkdir(parents=True)

    overrides = {
        "JUPYTER_PATH": str(jupyter_path),
        "JUPYTER_DATA_DIR": str(root / "data"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "IPYTHONDIR": str(root / "ipython"),
        "MPLCONFIGDIR": str(root / "matplotlib"),
        "ENSEMBLE_HISTORY": str(root / "default-history.sqlite"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        if IS_ENSEMBLE:
            _install_ensemble_spec(root)
        ksm = KernelSpecManager()
        try:
            spec = ksm.get_kernel_spec(KERNEL_NAME)
        except NoSuchKernel:
            pytest.fail("no kernelspec named %r" % KERNEL_NAME, pytrace=False)
        spec_dict = spec.to_dict()
        mode = spec_dict.get("interrupt_mode", "signal")

        names = {}
        for wanted in ("signal", "message"):
            if mode == wanted:
                names[wanted] = KERNEL_NAME
            else:
                variant = dict(spec_dict, interrupt_mode=wanted)
                variant["display_name"] = "%s [%s interrupt]" % (spec_dict["display_name"], wanted)
                names[wanted] = "%s-%s" % (KERNEL_NAME, wanted)
                _write_spec(kernels_dir, names[wanted], variant)

        target = KernelTarget(
            name=KERNEL_NAME,
            message_name=names["message"],
            signal_name=names["signal"],
            is_ensemble=IS_ENSEMBLE,
            root=root,
            jupyter_path=jupyter_path,
            spec_argv=list(spec_dict["argv"]),
        )
        yield target
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------
# running kernels
# --------------------------------------------------------------------------


def check_message(msg: dict) -> None:
    """Validate a message against jupyter_kernel_test's v5 schemas where one exists."""
    msg_type = msg["header"]["msg_type"]
    if msg_type not in schema_fragments:
        return  # comm_* and friends have no schema there
    if msg_type.endswith("_reply") and msg["content"].get("status") == "aborted":
        return  # the schema only knows the deprecated 'abort'
    if msg_type == "interrupt_reply" and not IS_ENSEMBLE:
        return  # ipykernel echoes the request content (no 'status')
    if msg_type == "input_request":
        # jupyter_kernel_test 0.4.5's schema wrongly types 'password' as a number
        content = msg["content"]
        assert isinstance(content.get("prompt"), str), content
        assert isinstance(content.get("password"), bool), content
        return
    validate_message(msg)


@dataclass
class ExecResult:
    reply: dict
    msgs: List[dict]  # iopub messages whose parent is the request (status excluded)

    @property
    def content(self) -> dict:
        return self.reply["content"]

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    def of_type(self, *types: str) -> List[dict]:
        return [m for m in self.msgs if m["header"]["msg_type"] in types]

    def stream_text(self, name: str = "stdout") -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == name
        )

    @property
    def stdout(self) -> str:
        return self.stream_text("stdout")

    @property
    def stderr(self) -> str:
        return self.stream_text("stderr")

    @property
    def results(self) -> List[dict]:
        return [m["content"] for m in self.of_type("execute_result")]

    @property
    def errors(self) -> List[dict]:
        return [m["content"] for m in self.of_type("error")]

    @property
    def traceback_text(self) -> str:
        """Traceback of the error reply, ANSI colours removed."""
        return strip_ansi("\n".join(self.content.get("traceback", [])))


def parent_id(msg: dict) -> Optional[str]:
    return (msg.get("parent_header") or {}).get("msg_id")


class KernelHandle:
    """A started kernel: KernelManager + BlockingKernelClient + helpers.

    Replies and IOPub messages are matched to requests by parent msg_id;
    messages for other requests are kept (``iopub_log``/stashes) rather than
    dropped, so several requests can be in flight at once.
    """

    def __init__(self, kernel_name: str, env: Dict[str, str], cwd: Optional[str] = None):
        self.kernel_name = kernel_name
        self.env = env
        self.km = KernelManager(kernel_name=kernel_name)
        self.km.shutdown_wait_time = 3.0
        self.kc = None
        self.iopub_log: List[dict] = []
        self._shell_stash: Dict[str, dict] = {}
        self._control_stash: Dict[str, dict] = {}
        self._stdin_stash: List[dict] = []
        kwargs = {"env": env}
        if cwd:
            kwargs["cwd"] = cwd
        self.km.start_kernel(**kwargs)
        try:
            self.connect()
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------

    def connect(self) -> None:
        """(Re)connect a client, e.g. after a restart; forgets earlier messages."""
        count = 0
        if self.kc is not None:
            count = self.kc.session.message_count
            self.kc.stop_channels()
        self.kc = self.km.client()
        # km.client() clones the session, which restarts msg_id numbering at 0:
        # keep ids unique so old replies cannot be mistaken for new ones.
        self.kc.session.message_count = count
        self.iopub_log.clear()
        self._shell_stash.clear()
        self._control_stash.clear()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        self.drain_iopub()

    @property
    def pid(self) -> Optional[int]:
        prov = self.km.provisioner
        proc = getattr(prov, "process", None) if prov else None
        return proc.pid if proc is not None else None

    def close(self) -> None:
        """Shut down politely, then kill through the manager; never raises."""
        try:
            if self.kc is not None:
                self.kc.stop_channels()
        except Exception:
            pass
        try:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
        except Exception:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:
                pass
        try:
            if self.km.has_kernel and self.km.is_alive():
                self.km.shutdown_kernel(now=True)
        except Exception:
            pass
        try:
            self.km.cleanup_resources()
        except Exception:
            pass

    # -- sending -----------------------------------------------------------

    def send_shell(self, msg_type: str, content: dict) -> str:
        msg = self.kc.session.msg(msg_type, content)
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def send_control(self, msg_type: str, content: dict) -> str:
        msg = self.kc.session.msg(msg_type, content)
        self.kc.control_channel.send(msg)
        return msg["header"]["msg_id"]

    # -- receiving ---------------------------------------------------------

    def _reply(self, getter, stash: Dict[str, dict], msg_id: str, timeout: float) -> dict:
        if msg_id in stash:
            return stash.pop(msg_id)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply to %s within %.1f s" % (msg_id, timeout))
            try:
                msg = getter(timeout=remaining)
            except Empty:
                continue
            check_message(msg)
            pid = parent_id(msg)
            if pid == msg_id:
                return msg
            stash[pid] = msg

    def shell_reply(self, msg_id: str, timeout: float = REPLY_TIMEOUT) -> dict:
        return self._reply(self.kc.get_shell_msg, self._shell_stash, msg_id, timeout)

    def control_reply(self, msg_id: str, timeout: float = REPLY_TIMEOUT) -> dict:
        return self._reply(self.kc.get_control_msg, self._control_stash, msg_id, timeout)

    def shell_request(self, msg_type: str, content: dict, timeout: float = REPLY_TIMEOUT) -> dict:
        return self.shell_reply(self.send_shell(msg_type, content), timeout)

    def control_request(self, msg_type: str, content: dict, timeout: float = REPLY_TIMEOUT) -> dict:
        return self.control_reply(self.send_control(msg_type, content), timeout)

    def next_iopub(self, timeout: float) -> Optional[dict]:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except Empty:
            return None
        check_message(msg)
        self.iopub_log.append(msg)
        return msg

    def drain_iopub(self, quiet: float = 0.1) -> None:
        while self.next_iopub(quiet) is not None:
            pass

    def wait_iopub(
        self, predicate: Callable[[dict], bool], timeout: float = REPLY_TIMEOUT, start: int = 0
    ) -> dict:
        """First IOPub message (already logged from index ``start`` on, or new) matching."""
        for msg in self.iopub_log[start:]:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching IOPub message within %.1f s" % timeout)
            msg = self.next_iopub(remaining)
            if msg is not None and predicate(msg):
                return msg

    def iopub_for(self, msg_id: str, timeout: float = REPLY_TIMEOUT) -> List[dict]:
        """All IOPub messages of a request, up to and including its 'idle' status."""
        self.wait_iopub(
            lambda m: parent_id(m) == msg_id
            and m["header"]["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle",
            timeout,
        )
        return [m for m in self.iopub_log if parent_id(m) == msg_id]

    def next_stdin(self, timeout: float = REPLY_TIMEOUT) -> dict:
        msg = self.kc.get_stdin_msg(timeout=timeout)
        check_message(msg)
        return msg

    # -- conveniences ------------------------------------------------------

    def execute(self, code: str, timeout: float = REPLY_TIMEOUT, **kwargs) -> ExecResult:
        msg_id = self.kc.execute(code, **kwargs)
        return self.collect(msg_id, timeout)

    def collect(self, msg_id: str, timeout: float = REPLY_TIMEOUT) -> ExecResult:
        deadline = time.monotonic() + timeout
        reply = self.shell_reply(msg_id, timeout)
        msgs = self.iopub_for(msg_id, max(0.5, deadline - time.monotonic()))
        return ExecResult(reply, [m for m in msgs if m["header"]["msg_type"] != "status"])

    def eval_plain(self, expr: str, timeout: float = REPLY_TIMEOUT) -> str:
        """text/plain repr of an expression, through user_expressions."""
        res = self.execute("", timeout, silent=True, user_expressions={"v": expr})
        assert res.status == "ok", res.content
        value = res.content["user_expressions"]["v"]
        assert value["status"] == "ok", value
        return value["data"]["text/plain"]

    def history(self, timeout: float = REPLY_TIMEOUT, **kwargs) -> dict:
        msg_id = self.kc.history(**kwargs)
        reply = self.shell_reply(msg_id, timeout)
        assert reply["header"]["msg_type"] == "history_reply"
        return reply["content"]

    def assert_healthy(self, timeout: float = 15.0) -> None:
        """The kernel is alive, answers kernel_info, and executes code."""
        assert self.km.is_alive(), "kernel process died"
        reply = self.shell_request("kernel_info_request", {}, timeout)
        assert reply["header"]["msg_type"] == "kernel_info_reply"
        assert reply["content"]["status"] == "ok"
        res = self.execute("6 * 7", timeout)
        assert res.status == "ok", res.content
        assert [r["data"]["text/plain"] for r in res.results] == ["42"]

    def ensure_running(self) -> None:
        """Restart a kernel that a previous test left dead (keeps later tests meaningful)."""
        if not self.km.is_alive():
            self.hard_restart()

    def hard_restart(self) -> None:
        self.km.restart_kernel(now=True)
        self.connect()
        while True:
            try:
                self.kc.get_stdin_msg(timeout=0.05)
            except Empty:
                break

    def responsive(self, timeout: float = 5.0) -> bool:
        """Answers kernel_info on shell within ``timeout`` (i.e. is not stuck in a cell)."""
        if not self.km.is_alive():
            return False
        try:
            self.shell_request("kernel_info_request", {}, timeout)
            return True
        except TimeoutError:
            return False


@pytest.fixture(scope="session")
def start_kernel(kernel_target, tmp_path_factory):
    """Factory: start_kernel(name=None, **env) -> KernelHandle; all are cleaned up."""
    handles: List[KernelHandle] = []

    def _start(name: Optional[str] = None, cwd: Optional[str] = None, **extra_env: str) -> KernelHandle:
        state = tmp_path_factory.mktemp("kernel-state")
        env = kernel_target.kernel_env(state, **extra_env)
        handle = KernelHandle(name or kernel_target.name, env, cwd=cwd)
        handle.state_dir = state
        handles.append(handle)
        return handle

    yield _start
    for h in handles:
        h.close()


@pytest.fixture
def fresh_kernel(start_kernel):
    """A kernel of its own for one test; closed at the end of that test."""
    h = start_kernel()
    try:
        yield h
    finally:
        h.close()


@pytest.fixture(scope="module")
def module_kernel(start_kernel):
    """One kernel shared by the tests of a module (for tests that don't interfere)."""
    h = start_kernel()
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def kernel(module_kernel):
    """The module's shared kernel.

    Restarted before the test if an earlier test killed it, and after the test
    if the test left it stuck (a failing test must not take the next ones down).
    """
    module_kernel.ensure_running()
    yield module_kernel
    if not module_kernel.responsive():
        module_kernel.hard_restart()


def unique_name(prefix: str = "t") -> str:
    return "%s_%s" % (prefix, uuid.uuid4().hex[:10])


@pytest.fixture
def uniq():
    return unique_name

"""``run``: executes one apply_request on an engine.

Called by the C++ engine on its main thread with the GIL held. The user
namespace is ``sys.modules["__main__"].__dict__``, the kernel's namespace, so
``execute_request`` and ``apply_request`` see the same names.
"""

import _signal
import signal
import sys
import threading
import traceback

from ensemble import serialize
from ensemble._kernel.runtime import KernelRuntime


def run(buffers, engine_id, engine_uuid):
    """Run ``f(*args, **kwargs)`` unpacked from ``buffers``.

    Returns ``(content, metadata, reply_buffers)``; never raises for errors of
    the user's code (they become an error ``content``). On error,
    ``sys.last_type``/``last_value``/``last_traceback`` are set so ``%debug``
    can post-mortem it, with this module's frames removed from the traceback.
    Output printed during the call is flushed before returning. An
    interrupt (SIGINT, as ``interrupt_request`` delivers it) during the call
    raises KeyboardInterrupt in it, as during an ``execute_request``.
    """
    engine_info = {"engine_id": engine_id, "engine_uuid": engine_uuid, "method": "apply"}
    metadata = {"engine_id": engine_id, "engine_uuid": engine_uuid}
    namespace = sys.modules["__main__"].__dict__
    runtime = _runtime_handling_sigint()
    if runtime is not None:
        was_executing, runtime.executing = runtime.executing, True
        previous_handler = None
    else:
        previous_handler = _interruptible()
    try:
        try:
            f, args, kwargs = serialize.unpack_apply(buffers, namespace)
            result = f(*args, **kwargs)
            reply_buffers = serialize.pack_result(result)
        except BaseException as exc:  # the user's code may raise anything, even SystemExit
            content = _error_content(exc, engine_info)
            metadata["status"] = "error"
            _publish_error(content)
            return content, metadata, []
        metadata["status"] = "ok"
        return {"status": "ok"}, metadata, reply_buffers
    finally:
        if runtime is not None:
            runtime.executing = was_executing
        elif previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        _flush()


def _runtime_handling_sigint():
    """The kernel runtime, if its SIGINT handler is the one installed: it raises
    KeyboardInterrupt while ``executing`` is set, so flagging the call is enough
    (two ``signal.signal`` calls per apply were a fifth of a no-op's cost).
    ``_signal.getsignal``: ``signal.getsignal`` converts to and from enums, which
    cost more than the rest of this check."""
    runtime = getattr(KernelRuntime, "instance", None)
    if runtime is None or threading.current_thread() is not threading.main_thread():
        return None
    return runtime if _signal.getsignal(signal.SIGINT) == runtime._on_sigint else None


def _interruptible():
    """Make SIGINT raise KeyboardInterrupt (the kernel's own handler ignores it
    outside an execute_request); returns the handler to restore, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is None:  # installed from C: could not be restored
        return None
    try:
        return signal.signal(signal.SIGINT, signal.default_int_handler)
    except (ValueError, TypeError):
        return None


_OWN_FILES = {__file__, serialize.__file__}


def _user_frames(tb):
    """``tb`` without the leading frames that belong to the engine itself."""
    while tb is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES:
        tb = tb.tb_next
    return tb


def _error_content(exc, engine_info):
    tb = _user_frames(exc.__traceback__)
    exc = exc.with_traceback(tb)
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = exc
    lines = traceback.format_exception(type(exc), exc, tb)
    text = "".join(lines).rstrip("\n").splitlines()
    return {
        "status": "error",
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "traceback": text,
        "engine_info": engine_info,
    }


def _publish_error(content):
    """The error on iopub too, as ipyparallel's engines publish it (their shell shows the
    traceback): a client keeps it as the request's ``metadata["error"]`` (``ar.error``),
    the controller stores it, and a console attached to this engine sees it."""
    runtime = KernelRuntime.instance
    if runtime is not None:
        runtime.bridge.publish("error", {key: content[key] for key in ("ename", "evalue", "traceback", "engine_info")})


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass

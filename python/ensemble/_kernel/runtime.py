"""The kernel's Python runtime: executes cells in one persistent namespace.

Plain Python runs on a lean path (compile + exec, last expression displayed);
cells with IPython syntax, objects with rich reprs, and anything that asks for
get_ipython() go through a lazily created IPython shell sharing the same
namespace. Both paths publish through the same hooks, so outputs match.
"""

import ast
import builtins
import getpass as getpass_module
import linecache
import os
import re
import signal
import sys
import types

from . import display as display_module
from .cell_files import cell_file_name
from . import introspection
from .cells import ends_with_semicolon, semicolon_follows, strip_leading_indent
from .comm import CommManager
from .errors import ErrorReporting
from .input_history import InputHistory
from .ipython_path import IPythonPath
from .streams import KernelStream

# Lines IPython would transform: magics, shell escapes, help, and
# "x = !cmd" / "x = %magic" assignments.
_IPYTHON_SYNTAX = re.compile(r"^\s*(%|!|\?)|\?\s*$|^\s*[\w.,\s]+=\s*[%!]", re.MULTILINE)
_MAX_OUTPUT_HISTORY = 64 * 1024


class StdinNotImplementedError(RuntimeError):
    """input() was called, but the frontend said it cannot answer."""


class KernelRuntime(IPythonPath, ErrorReporting):
    instance = None  # the process's one runtime, once the C++ kernel has made it

    def __init__(self, bridge):
        KernelRuntime.instance = self
        self.bridge = bridge
        self.namespace = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}
        self.namespace_module = types.ModuleType("__main__")
        self.namespace_module.__dict__.update(self.namespace)
        self.namespace = self.namespace_module.__dict__
        self.namespace.update({"_": "", "__": "", "___": ""})
        self.history = InputHistory(self.namespace)
        sys.modules["__main__"] = self.namespace_module
        # Modules beside the notebook (the working directory) import, as under ipykernel.
        if "" not in sys.path:
            sys.path.insert(0, "")
        _default_to_inline_figures()
        self.execution_count = 0
        self.connection_file = ""  # the kernel's, when it has one (set by the C++ interpreter)
        self._silent_cells = 0
        # cell file name -> its In[] number, for tracebacks ("Cell In [3], line 2"); once
        # the IPython shell exists, its compiler's map is this very dict (see get_ipython)
        self._cell_numbers = {}
        self._loop = None  # see event_loop()
        self.executing = False
        self.silent = False
        self.payload = []
        self._error = None
        self._output_text = None
        self._ipython_cell = None  # the code IPython runs for the current cell, while it runs
        self._formatting = False  # while a result is formatted (see _format_result)
        self._shell = None
        self._creating_shell = False
        self.comms = CommManager(bridge)
        sys.stdout = KernelStream(bridge, "stdout")
        sys.stderr = KernelStream(bridge, "stderr")
        sys.displayhook = self.displayhook
        builtins.input = self.input
        getpass_module.getpass = self.getpass
        builtins.get_ipython = self.get_ipython
        self._exit = builtins.exit = builtins.quit = _Exit(self)
        signal.signal(signal.SIGINT, self._on_sigint)
        self._install_ipython_import_hook()
        self._debugger = None  # the relay for Jupyter's debugger, once a frontend uses it
        debug_fd = bridge.debug_requests_fd()
        self._serves_debugger = debug_fd >= 0
        if self._serves_debugger:
            # imported here, on the main thread: threading takes the thread that first
            # imports it for the main one, and debugpy ends its session when that ends
            import threading
            thread = threading.Thread(target=self._serve_debugger, args=(debug_fd,), name="debugger", daemon=True)
            thread.pydev_do_not_trace = True  # pydevd's marks: not traced, not listed as the user's
            thread.is_pydev_daemon_thread = True
            thread.start()

    # -- lifecycle -------------------------------------------------------

    def kernel_info(self):
        version = ".".join(map(str, sys.version_info[:3]))
        from ensemble import __version__
        return {
            "implementation": "ensemble",
            "implementation_version": __version__,
            "language_info": {
                "name": "python",
                "version": version,
                "mimetype": "text/x-python",
                "codemirror_mode": {"name": "ipython", "version": 3},
                "pygments_lexer": "ipython3",
                "nbconvert_exporter": "python",
                "file_extension": ".py",
            },
            "banner": f"Ensemble {__version__}: Python {sys.version.split()[0]} on a C++ kernel\n",
            "help_links": [{"text": "Python Reference", "url": "https://docs.python.org/3/"}],
            "debugger": self._serves_debugger and _debugpy_installed(),
        }

    def _serve_debugger(self, fd):
        """The debugger's thread (debugger.py). It waits for a frontend's first request
        before it loads anything: a kernel nobody debugs pays for the thread alone."""
        first = os.read(fd, 1 << 16)
        if not first:  # the kernel ended first
            os.close(fd)
            return
        from .debugger import DebugRelay
        self._debugger = DebugRelay(self.bridge, self, fd)
        self._debugger.run(first)

    def _on_sigint(self, signum, frame):
        # An interrupt only means something while a cell runs.
        if self.executing:
            raise KeyboardInterrupt

    def shutdown(self, restart):
        import atexit
        sys.stdout.flush()
        atexit._run_exitfuncs()

    # -- execution -------------------------------------------------------

    def execute(self, code, silent, store_history, user_expressions, allow_stdin, execution_count):
        self.execution_count = execution_count
        self.silent = silent
        self.allow_stdin = allow_stdin
        self.payload = []
        self._error = None
        self._output_text = None
        shell = self._shell
        if shell is not None:
            shell.execution_count = execution_count
            shell.events.trigger("pre_execute")
            if not silent:
                shell.events.trigger("pre_run_cell", None)
        raw = code
        code = strip_leading_indent(code, keep_line_numbers=True)
        if self._debugger is not None:
            self._debugger.follow_session()
        self.executing = True
        self._make_loop_current()
        try:
            through_ipython = (_IPYTHON_SYNTAX.search(code) and self._ipython_changes(code)) or self._automagic(code)
            parsed = self._transformed(code) if through_ipython else code
            if store_history:
                self.history.store(execution_count, raw, parsed)
            if through_ipython:
                self._ipython_cell = parsed  # IPython asks whether it ends in `;` as run
                self._settle(self._run_ipython(code, silent))
            else:
                self._run_plain(code, silent, execution_count, raw)
        except BaseException:
            self.executing = False
            self.showtraceback()
        finally:
            self.executing = False
            self._ipython_cell = None
            _flush_original_streams()
        if shell is not None or self._shell is not None:
            self._shell.events.trigger("post_execute")
            if not silent:
                self._shell.events.trigger("post_run_cell", None)
            self.payload.extend(self._shell.payload_manager.read_payload())
            self._shell.payload_manager.clear_payload()
        # No stream flush here: the kernel flushes before it sends the reply.
        reply = {"payload": self.payload, "output_text": self._output_text}
        if self._error is not None:
            reply.update(status="error", **self._error)
            reply["user_expressions"] = {}
        else:
            reply["status"] = "ok"
            reply["user_expressions"] = self._user_expressions(user_expressions)
        return reply

    def _run_plain(self, code, silent, execution_count, raw):
        if silent:
            # Each silent cell needs a name of its own: a function defined in one (an engine's
            # view.execute is silent by default) keeps pointing at its cell's source, and a
            # traceback through it must find that source, not a later silent cell's.
            self._silent_cells += 1
            filename = f"<silent-cell-{self._silent_cells}>"
        else:
            filename = cell_file_name(raw)  # where a frontend's debugger expects the cell
        self._cell_numbers[filename] = execution_count  # a silent cell: the count it ran at, as IPython
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        tree = ast.parse(code, filename=filename)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        body = tree.body
        last = None
        if body and isinstance(body[-1], ast.Expr) and not silent and not semicolon_follows(code, body[-1]):
            last = body.pop()
        if body:
            self._run_code(compile(ast.Module(body, []), filename, "exec", flags=flags))
        if last is not None:
            value = self._run_code(compile(ast.Expression(last.value), filename, "eval", flags=flags))
            self.displayhook(value)

    def _run_code(self, code):
        result = eval(code, self.namespace)
        if code.co_flags & 0x80:  # CO_COROUTINE: the cell used top-level await
            result = self.event_loop().run_until_complete(result)
        return result

    def event_loop(self):
        """The loop that top-level `await` runs on: one for the kernel's life, as IPython
        keeps one, so a task a cell starts (`asyncio.Task(...)`, `ensure_future`) goes on
        in the next cell's `await`. It is the thread's current loop while a cell runs, even
        after user code called `asyncio.run()`, which leaves none. The IPython shell's cells
        use it too."""
        import asyncio

        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            helpers = sys.modules.get("IPython.core.async_helpers")
            if helpers is not None:
                helpers._asyncio_event_loop = self._loop
        return self._loop

    def _make_loop_current(self):
        # Only once the user's code has imported asyncio: most kernels never need a loop.
        if "asyncio" in sys.modules:
            import asyncio

            asyncio.set_event_loop(self.event_loop())

    def _user_expressions(self, expressions):
        results = {}
        for name, expression in (expressions or {}).items():
            try:
                value = eval(expression, self.namespace)
                data, metadata = self.format(value)
                results[name] = {"status": "ok", "data": data, "metadata": metadata}
            except BaseException as error:
                results[name] = {"status": "error", "ename": type(error).__name__,
                                 "evalue": str(error), "traceback": []}
        return results

    # -- display ---------------------------------------------------------

    def format(self, obj):
        if self._shell is None and not display_module.needs_ipython_formatter(obj):
            text = display_module.plain_text(obj)
            if text is not None:
                return {"text/plain": text}, {}
        data, metadata = self.get_ipython().display_formatter.format(obj)
        return data, metadata

    def displayhook(self, value):
        """Shows a cell's result; whether it was taken as the result (IPython's run_cell
        then reports it)."""
        if value is None or self.silent:
            return False
        if self._ipython_cell is not None and ends_with_semicolon(self._ipython_cell):
            return False
        if isinstance(value, _Exit):  # a bare `exit`, as IPython's autocall treats it
            self._record_output(value)
            value()
            return True
        if hasattr(type(value), "_ipython_display_"):
            value._ipython_display_()
            self._record_output(value)
            return True
        data, metadata = self._format_result(value)
        # after formatting, as IPython does: Out shown as the result is Out without it
        self._record_output(value)
        if not data:
            return True
        text = data.get("text/plain")
        # Output history is for reading back, not an archive of big results.
        self._output_text = text if text is not None and len(text) <= _MAX_OUTPUT_HISTORY else None
        if self._output_text is not None:
            self.history.output_reprs[self.execution_count] = self._output_text
        self.bridge.publish("execute_result",
                            {"execution_count": self.execution_count, "data": data, "metadata": metadata})
        return True

    def _format_result(self, value):
        """The result's bundle; a formatter that raises (a broken __repr__ or _repr_html_)
        is shown as an error output and leaves the formats that worked."""
        self._formatting = True
        try:
            return self.format(value)
        except Exception:
            self.showtraceback()
            return {}, {}
        finally:
            self._formatting = False

    def _record_output(self, value):
        if value is self.history.outputs:  # Out itself: not kept in Out or _, as IPython
            return
        namespace = self.namespace
        builtins._ = value
        # .get: %reset empties the namespace
        namespace["___"], namespace["__"], namespace["_"] = namespace.get("__", ""), namespace.get("_", ""), value
        namespace[f"_{self.execution_count}"] = value
        self.history.outputs[self.execution_count] = value

    def publish_display(self, data, metadata=None, transient=None, update=False):
        # as IPython's publisher checks: a display_data message must carry dicts
        if not isinstance(data, dict):
            raise TypeError("data must be a dict, got: %r" % (data,))
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError("metadata must be a dict, got: %r" % (metadata,))
        content = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
        self.bridge.publish("update_display_data" if update else "display_data", content)

    def clear_output(self, wait=False):
        self.bridge.publish("clear_output", {"wait": bool(wait)})

    # -- stdin -----------------------------------------------------------

    def input(self, prompt=""):
        return self._ask(str(prompt), password=False)

    def getpass(self, prompt="Password: ", stream=None):
        return self._ask(str(prompt), password=True)

    def _ask(self, prompt, password):
        if not self.allow_stdin:
            raise StdinNotImplementedError(
                "input() is not supported: the frontend that sent this request does not accept input requests")
        return self.bridge.input(prompt, password)

    # -- introspection and comms ----------------------------------------

    def complete(self, code, cursor_pos):
        return introspection.complete(self.namespace, code, cursor_pos, self._ipython_complete)

    def is_complete(self, code):
        return introspection.is_complete(code)

    def inspect(self, code, cursor_pos, detail_level):
        from .inspection import inspect_at
        return inspect_at(self, code, cursor_pos, detail_level)


class _Exit:
    """`exit` / `quit`: ask the frontend to close, as IPython's do."""

    def __init__(self, runtime):
        self._runtime = runtime

    def __repr__(self):
        return "Type exit or exit() to leave the console."

    def __call__(self, keep_kernel=False):
        self._runtime.payload.append({"source": "ask_exit", "keepkernel": bool(keep_kernel)})


def _flush_original_streams():
    """What the cell wrote to sys.__stdout__/__stderr__ goes out before its reply: below
    them, the kernel hands descriptors 1 and 2 to the frontend (output_capture.hpp)."""
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed or broken by the user's code
            pass


def _default_to_inline_figures():
    """Figures show in the notebook without `%matplotlib inline`, as under ipykernel: the
    inline backend is matplotlib's default here (MPLBACKEND, which the user's own setting
    overrides and child processes inherit). The backend starts IPython when pyplot loads.
    Not on an engine (its sys.argv is [ensemble, --engine]): ipyparallel's engines keep
    matplotlib's own default too, so a task's figures are not sent to the client."""
    if "MPLBACKEND" in os.environ or sys.argv[1:2] == ["--engine"]:
        return
    import importlib.util

    if importlib.util.find_spec("matplotlib_inline") is not None:
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"


def _debugpy_installed():
    import importlib.util

    return importlib.util.find_spec("debugpy") is not None

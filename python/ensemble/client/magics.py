"""IPython magics for a view: ``%px``, ``%%px``, ``%autopx``, ``%pxresult``
and ``%pxconfig`` (each with the suffix given to ``view.activate``).

``%%px`` and ``%pxconfig`` options: ``-b/--block``, ``-a/--noblock``,
``-t/--targets``, ``--stream/--no-stream``, ``--local``,
``--verbose/--no-verbose``, ``--progress-after S``; output options
(``%%px``, ``%pxresult``): ``-r`` (order), ``-e`` (engine),
``--group-outputs=type|engine|order``, ``-o/--out NAME``.
"""

import inspect
import re
import time
from contextlib import nullcontext

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics

NO_LAST_RESULT = "%pxresult recalls last %px result, which has not yet been used."

_arg = magic_arguments.argument

_EXEC_ARGS = [
    _arg("-b", "--block", action="store_const", const=True, dest="block",
         help="use blocking (sync) execution"),
    _arg("-a", "--noblock", action="store_const", const=False, dest="block",
         help="use non-blocking (async) execution"),
    _arg("--stream", action="store_const", const=True, dest="stream",
         help="stream stdout/stderr as it arrives (blocking execution only)"),
    _arg("--no-stream", action="store_const", const=False, dest="stream",
         help="do not stream stdout/stderr"),
    _arg("-t", "--targets", type=str, help="the targets on which to execute"),
    _arg("--local", action="store_const", const=True, dest="local",
         help="also execute the cell in the local namespace"),
    _arg("--verbose", action="store_const", const=True, dest="set_verbose",
         help="print a message at each execution"),
    _arg("--no-verbose", action="store_const", const=False, dest="set_verbose",
         help="print no messages"),
    _arg("--progress-after", dest="progress_after_seconds", type=float, default=None,
         help="seconds before showing a progress bar (-1: never, 0: at once)"),
]

_OUTPUT_ARGS = [
    _arg("-r", action="store_const", dest="groupby", const="order",
         help="collate outputs in order (same as --group-outputs=order)"),
    _arg("-e", action="store_const", dest="groupby", const="engine",
         help="group outputs by engine (same as --group-outputs=engine)"),
    _arg("--group-outputs", dest="groupby", type=str, choices=["engine", "order", "type"],
         default="type", help="group the outputs by type, engine or order"),
    _arg("-o", "--out", dest="save_name", type=str,
         help="store the AsyncResult in the user namespace under this name"),
]


def exec_args(f):
    for a in _EXEC_ARGS:
        f = a(f)
    return f


def output_args(f):
    for a in _OUTPUT_ARGS:
        f = a(f)
    return f


def _asyncify(f):
    async def wrapper(*args, **kwargs):
        return f(*args, **kwargs)
    return wrapper


class ParallelMagics(Magics):
    """The parallel magics bound to one view."""

    registered = True  # magics are set per instance in __init__
    verbose = False
    stream_ouput = True  # (sic) ipyparallel's attribute name
    progress_after_seconds = 2
    last_result = None
    _autopx = False

    def __init__(self, shell, view, suffix=""):
        self.view = view
        self.suffix = suffix
        px = "px" + suffix
        self.magics = {
            "line": {"pxresult" + suffix: self.result, px: self.px,
                     "pxconfig" + suffix: self.pxconfig, "auto" + px: self.autopx},
            "cell": {px: self.cell_px},
        }
        if not suffix:
            self.magics["line"]["result"] = self.result
        super().__init__(shell=shell)

    def _eval_target_str(self, text):
        if ":" in text:
            return eval("self.view.client.ids[%s]" % text)
        if "all" in text:
            return "all"
        return eval(text)

    @magic_arguments.magic_arguments()
    @exec_args
    def pxconfig(self, line):
        """Configure the default targets, blocking, verbosity and streaming
        of the %px magics."""
        args = magic_arguments.parse_argstring(self.pxconfig, line)
        if args.targets:
            self.view.targets = self._eval_target_str(args.targets)
        if args.block is not None:
            self.view.block = args.block
        if args.set_verbose is not None:
            self.verbose = args.set_verbose
        if args.stream is not None:
            self.stream_ouput = args.stream
        if args.progress_after_seconds is not None:
            self.progress_after_seconds = args.progress_after_seconds

    @magic_arguments.magic_arguments()
    @output_args
    def result(self, line=""):
        """Show the result of the last %px command (e.g. after --noblock)."""
        args = magic_arguments.parse_argstring(self.result, line)
        if self.last_result is None:
            raise UsageError(NO_LAST_RESULT)
        self.last_result.get()
        self.last_result.display_outputs(groupby=args.groupby)

    def px(self, line=""):
        """Execute a line of code on the view's engines."""
        return self.parallel_execute(line)

    def parallel_execute(self, cell, block=None, groupby="type", save_name=None,
                         stream_output=None, progress_after=None):
        block = self.view.block if block is None else block
        stream_output = self.stream_ouput if stream_output is None else stream_output
        targets = self.view.targets
        if isinstance(targets, list) and len(targets) > 10:
            shown = str(targets[:4])[:-1] + ", ..., " + str(targets[-4:])[1:]
        else:
            shown = str(targets)
        if self.verbose:
            base = "Parallel" if block else "Async parallel"
            print(base + " execution on engine(s): %s" % shown)
        result = self.view.execute(cell, silent=False, block=False)
        result._fname = "%px"
        self.last_result = result
        if save_name:
            self.shell.user_ns[save_name] = result
        if not block:
            return result
        if progress_after is None:
            progress_after = self.progress_after_seconds
        with (result.stream_output() if stream_output else nullcontext()):
            finished = False
            if progress_after > 0:
                deadline = time.perf_counter() + progress_after
                try:
                    result.wait_for_output(timeout=progress_after)
                    result.get(timeout=max(deadline - time.perf_counter(), 0))
                    finished = True
                except TimeoutError:
                    pass
            if not finished:
                if progress_after >= 0:
                    result.wait_interactive()
                result.get()
            result.wait_for_output()
        result.display_outputs(groupby, result_only=stream_output)

    @magic_arguments.magic_arguments()
    @exec_args
    @output_args
    def cell_px(self, line="", cell=None):
        """Execute the cell on the view's engines."""
        args = magic_arguments.parse_argstring(self.cell_px, line)
        if args.targets:
            saved_targets = self.view.targets
            self.view.targets = self._eval_target_str(args.targets)
        try:
            ar = self.parallel_execute(
                cell, block=False if args.local else args.block, groupby=args.groupby,
                save_name=args.save_name, stream_output=args.stream,
                progress_after=args.progress_after_seconds)
        finally:
            if args.targets:
                self.view.targets = saved_targets
        block = self.view.block if args.block is None else args.block
        if args.local:
            self.shell.run_cell(cell)
            if block:
                ar.get()
                ar.display_outputs(args.groupby)
        if not block:
            return ar

    def autopx(self, line=""):
        """Toggle a mode where every cell runs on the engines instead."""
        if self._autopx:
            self._disable_autopx()
        else:
            self._enable_autopx()

    def _enable_autopx(self):
        self._original_run_cell = self.shell.run_cell
        self._original_run_nodes = self.shell.run_ast_nodes
        run_cell, run_nodes = self.pxrun_cell, self.pxrun_nodes
        if inspect.iscoroutinefunction(self.shell.run_cell):
            run_cell = _asyncify(run_cell)
        if inspect.iscoroutinefunction(self.shell.run_ast_nodes):
            run_nodes = _asyncify(run_nodes)
        self.shell.run_cell = run_cell
        self.shell.run_ast_nodes = run_nodes
        self._autopx = True
        print("%autopx enabled")

    def _disable_autopx(self):
        if self._autopx:
            self.shell.run_cell = self._original_run_cell
            self.shell.run_ast_nodes = self._original_run_nodes
            self._autopx = False
            print("%autopx disabled")

    def pxrun_nodes(self, *args, **kwargs):
        cell = self._px_cell
        if re.search(r"^\s*%autopx\b", cell):
            self._disable_autopx()
            return False
        try:
            result = self.view.execute(cell, silent=False, block=False)
        except Exception:
            self.shell.showtraceback()
            return True
        if self.view.block:
            try:
                result.get()
            except Exception:
                self.shell.showtraceback()
                return True
            result.display_outputs()
        return False

    def pxrun_cell(self, raw_cell, *args, **kwargs):
        """Replaces InteractiveShell.run_cell while %autopx is on."""
        self._px_cell = raw_cell
        return self._original_run_cell(raw_cell, *args, **kwargs)

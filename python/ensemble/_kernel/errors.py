"""How the runtime reports a cell's error: IPython's traceback, without the kernel's own
frames. Part of KernelRuntime."""

import os
import sys

_THIS_DIR = os.path.dirname(os.path.abspath(__file__))


class ErrorReporting:
    def showtraceback(self):
        etype, evalue, tb = sys.exc_info()
        # As IPython does: %debug (and pdb.pm()) look here for the last error.
        sys.last_type, sys.last_value, sys.last_traceback = etype, evalue, tb
        while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_THIS_DIR):
            tb = tb.tb_next
        if issubclass(etype, KeyboardInterrupt):
            tb = _without_trailing_kernel_frames(tb)
        stb = None
        if self._shell is not None or _ipython_importable():
            shell = self.get_ipython()
            try:
                if issubclass(etype, SyntaxError):
                    # As IPython shows it: the offending line, not the parser's frames.
                    stb = shell.SyntaxTB.structured_traceback(etype, evalue, [])
                else:
                    stb = shell.InteractiveTB.structured_traceback(etype, evalue, tb, tb_offset=0)
            except Exception:
                # IPython's formatter can fail on frames whose source it cannot match (it
                # raised NotOneValueFound there); the user's error must still be reported.
                stb = None
        if stb is None:
            import traceback
            stb = traceback.format_exception(etype, evalue, tb)
        self.record_error(etype.__name__, str(evalue), stb)
        if self._shell is not None and self._shell.call_pdb:  # %pdb on: post-mortem, as IPython
            self._shell.debugger(force=True)

    def record_error(self, ename, evalue, traceback):
        if self._formatting:
            # a result's formatter failed: shown as an output, and the cell does not fail,
            # as IPython reports its formatters' errors
            self.bridge.publish("error", {"ename": ename, "evalue": evalue, "traceback": list(traceback)})
            return
        self._error = {"ename": ename, "evalue": evalue, "traceback": list(traceback)}
        if self._shell is not None and self._shell.call_pdb:
            # the debugger comes next (%pdb on): the traceback is shown before its prompt
            self.bridge.publish("error", self._error)
            self._error["error_shown"] = True


def _without_trailing_kernel_frames(tb):
    """``tb`` without the kernel's own frames at its end: an interrupt is raised in the
    kernel's SIGINT handler (or its input()), which is not the user's code."""
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    while frames and frames[-1].tb_frame.f_code.co_filename.startswith(_THIS_DIR):
        frames.pop()
    if not frames:
        return None
    frames[-1].tb_next = None
    return frames[0]


def _ipython_importable():
    import importlib.util
    return "IPython" in sys.modules or importlib.util.find_spec("IPython") is not None

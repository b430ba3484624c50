"""Exceptions of the parallel API, named and arranged as ipyparallel's.

``ensemble.error`` is importable as a module and reachable as ``ipp.error``:

    IPythonError
     └─ KernelError
         ├─ EngineError, NoEnginesRegistered, TaskAborted, TaskTimeout,
         │  TaskRejectError
         ├─ UnmetDependency └─ ImpossibleDependency
         │                       ├─ DependencyTimeout, InvalidDependency
         └─ RemoteError └─ CompositeError

``TimeoutError`` is the builtin one, re-exported. An engine failure (an engine
died, or was never registered) arrives as a RemoteError whose ``ename`` is
"EngineError"; it is an instance of both RemoteError and EngineError.
"""

import builtins
import sys
import traceback as _traceback_module

__all__ = [
    "IPythonError", "KernelError", "EngineError", "NoEnginesRegistered",
    "TaskAborted", "TaskTimeout", "TimeoutError", "UnmetDependency",
    "ImpossibleDependency", "DependencyTimeout", "InvalidDependency",
    "RemoteError", "TaskRejectError", "CompositeError", "collect_exceptions",
    "wrap_exception", "unwrap_exception",
]

TimeoutError = builtins.TimeoutError


class IPythonError(Exception):
    """Root of every exception this API raises on purpose."""


class KernelError(IPythonError):
    pass


class EngineError(KernelError):
    """An engine is gone or unknown."""


class NoEnginesRegistered(KernelError):
    """The operation needs engines and the cluster has none yet."""

    def __str__(self):
        return ("This operation requires engines."
                " Try client.wait_for_engines(n) to wait for engines to register.")


class TaskAborted(KernelError):
    pass


class TaskTimeout(KernelError):
    pass


class UnmetDependency(KernelError):
    pass


class ImpossibleDependency(UnmetDependency):
    pass


class DependencyTimeout(ImpossibleDependency):
    pass


class InvalidDependency(ImpossibleDependency):
    pass


class TaskRejectError(KernelError):
    """Raised by a task to ask that it be retried on another engine."""


class RemoteError(KernelError):
    """An exception raised on an engine, carried back by name and text."""

    ename = None
    evalue = None
    traceback = None
    engine_info = None

    def __init__(self, ename, evalue, traceback, engine_info=None):
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.engine_info = engine_info or {}
        self.args = (ename, evalue)

    def __repr__(self):
        return "<Remote[%s]:%s(%s)>" % (self.engine_info.get("engine_id", " "),
                                        self.ename, self.evalue)

    def __str__(self):
        return "%s(%s)" % (self.ename, self.evalue)

    def render_traceback(self):
        """The remote traceback as a list of lines."""
        return (self.traceback or "No traceback available").splitlines()

    def _render_traceback_(self):
        # IPython shows this instead of the local traceback.
        return self.render_traceback()

    def print_traceback(self, excid=None):
        print("\n".join(self.render_traceback()))


class _RemoteEngineError(RemoteError, EngineError):
    """A RemoteError whose ename is EngineError: catchable as either."""


_ENGINE_ERROR_CLASSES = {RemoteError: _RemoteEngineError}


def remote_error(ename, evalue, traceback, engine_info=None):
    """Build the RemoteError for one failure (an EngineError one if fitting).

    Looks ``RemoteError`` up at call time, as ipyparallel's unwrap_exception does, so that code
    replacing ``error.RemoteError`` by a subclass (ipyparallel's test setup does) gets it for
    every remote failure, engine deaths included."""
    cls = RemoteError
    if ename == "EngineError":
        engine_cls = _ENGINE_ERROR_CLASSES.get(cls)
        if engine_cls is None:
            engine_cls = type("_RemoteEngineError", (cls, EngineError),
                              {"__doc__": _RemoteEngineError.__doc__, "__module__": __name__})
            _ENGINE_ERROR_CLASSES[cls] = engine_cls
        cls = engine_cls
    return cls(ename, evalue, traceback, engine_info)


class CompositeError(RemoteError):
    """Failures of one call on several engines; ``elist`` holds one tuple
    ``(ename, evalue, traceback, engine_info)`` per failure."""

    tb_limit = 4

    def __init__(self, message, elist):
        Exception.__init__(self, message, elist)
        self.msg = message
        self.elist = elist
        self.args = [e[0] for e in elist]

    @staticmethod
    def _engine_label(info):
        if not info:
            return "[Engine Exception]"
        return "[%s:%s]: " % (info.get("engine_id"), info.get("method"))

    def __str__(self):
        text = str(self.msg)
        for ename, evalue, _, info in self.elist[: self.tb_limit]:
            text += "\n" + self._engine_label(info) + ename + ": " + str(evalue)
        if len(self.elist) > self.tb_limit:
            text += "\n.... %i more exceptions ..." % (len(self.elist) - self.tb_limit)
        return text

    def __repr__(self):
        return "CompositeError(%i)" % len(self.elist)

    def render_traceback(self, excid=None):
        lines = []
        if excid is None:
            for _, _, tb, info in self.elist[: self.tb_limit]:
                lines.append(self._engine_label(info))
                lines.extend((tb or "No traceback available").splitlines())
                lines.append("")
            if len(self.elist) > self.tb_limit:
                lines.append("... %i more exceptions ..." % (len(self.elist) - self.tb_limit))
        else:
            _, _, tb, info = self._entry(excid)
            lines.append(self._engine_label(info))
            lines.extend((tb or "No traceback available").splitlines())
        return lines

    def print_traceback(self, excid=None):
        print("\n".join(self.render_traceback(excid)))

    def _entry(self, excid):
        try:
            return self.elist[excid]
        except Exception:
            raise IndexError("an exception with index %i does not exist" % excid) from None

    def raise_exception(self, excid=0):
        """Raise failure number ``excid`` as a single RemoteError."""
        raise remote_error(*self._entry(excid))


def collect_exceptions(rdict_or_list, method="unspecified"):
    """Raise a CompositeError if any result is a RemoteError; else pass through."""
    values = rdict_or_list.values() if isinstance(rdict_or_list, dict) else rdict_or_list
    elist = []
    for r in values:
        if isinstance(r, CompositeError):
            elist.extend(r.elist)
        elif isinstance(r, RemoteError) and r.ename == "CompositeError" and hasattr(r.evalue, "elist"):
            elist.extend(r.evalue.elist)  # a CompositeError wrapped in a RemoteError: flattened too
        elif isinstance(r, RemoteError):
            elist.append((r.ename, r.evalue, r.traceback, r.engine_info))
    if not elist:
        return rdict_or_list
    raise CompositeError("one or more exceptions from call to method: %s" % method, elist)


def wrap_exception(engine_info=None):
    """The reply content for the exception being handled."""
    etype, evalue, tb = sys.exc_info()
    return {
        "status": "error",
        "traceback": _traceback_module.format_exception(etype, evalue, tb),
        "ename": etype.__name__,
        "evalue": str(evalue),
        "engine_info": engine_info or {},
    }


def unwrap_exception(content):
    """The RemoteError for an error reply's content."""
    tb = content.get("traceback") or []
    if isinstance(tb, list):
        tb = "\n".join(tb)
    return remote_error(content.get("ename", "Error"), content.get("evalue", ""),
                        tb, dict(content.get("engine_info") or {}))

# The classes as defined here, for ``ensemble.<Name>``: like ``from .error import *`` in
# ipyparallel's __init__, the package keeps them even if code later replaces a module
# attribute (ipyparallel's test setup swaps ``error.RemoteError`` for a subclass).
_EXPORTED = {name: globals()[name] for name in __all__}

"""Small helpers shared by the client modules."""

import sys
import types
from datetime import datetime, timezone


def interactive(f):
    """Make ``f`` look defined in ``__main__``: on an engine it then runs
    with the engine's user namespace as its globals."""
    if isinstance(f, types.FunctionType):
        main = sys.modules["__main__"]
        f = types.FunctionType(f.__code__, main.__dict__, f.__name__, f.__defaults__)
    f.__module__ = "__main__"
    return f


def execute_content(code, silent=True):
    """An execute_request's content. As ipykernel does for ipyparallel, a failing
    silent execute (view.execute) does not abort the requests queued behind it;
    a non-silent one (%px) does."""
    if not isinstance(code, str):
        raise TypeError("code must be text, not %s" % type(code))
    return {"code": code, "silent": bool(silent), "store_history": not silent,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": not silent}


def running_ipython():
    """The running IPython shell, or None. Looked up without importing
    IPython: no shell can run if it is not imported yet, and importing it
    costs a client 0.15 s and 40k objects for the garbage collector."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def utcnow():
    return datetime.now(timezone.utc)


def parse_date(value):
    """A timezone-aware datetime from an ISO 8601 string (or passthrough)."""
    if not isinstance(value, str):
        return value
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp


def compare_datetimes(a, b):
    """``a - b``, tolerating one naive and one aware datetime."""
    if (a.tzinfo is None) != (b.tzinfo is None):
        a = a.replace(tzinfo=timezone.utc) if a.tzinfo is None else a
        b = b.replace(tzinfo=timezone.utc) if b.tzinfo is None else b
    return a - b


def progress(*args, widget=None, **kwargs):
    """A tqdm progress bar (the notebook one inside a kernel with widgets)."""
    if widget is None:
        widget = False
        try:
            ip = running_ipython()
            if ip is not None and getattr(ip, "kernel", None) is not None:
                import ipywidgets  # noqa: F401

                widget = True
        except ImportError:
            widget = False
    if widget:
        return _notebook_bar_class()(*args, **kwargs)
    import tqdm

    kwargs.setdefault("file", sys.stdout)
    return tqdm.tqdm(*args, **kwargs)


_NOTEBOOK_BAR = None


def _notebook_bar_class():
    """tqdm's notebook bar, made to work with ipywidgets older than tqdm expects: Debian 12
    ships ipywidgets 6, whose progress widget has no ``style``, and tqdm 4.64 sets the bar's
    colour through it, so a plain ``tqdm_notebook`` raises AttributeError before it shows
    anything (it does under ipyparallel too). Without a colour the bar still works."""
    global _NOTEBOOK_BAR
    if _NOTEBOOK_BAR is None:
        import tqdm.notebook

        class NotebookBar(tqdm.notebook.tqdm_notebook):
            @property
            def colour(self):
                return getattr(self, "_wanted_colour", None)

            @colour.setter
            def colour(self, bar_color):
                self._wanted_colour = bar_color
                try:
                    tqdm.notebook.tqdm_notebook.colour.fset(self, bar_color)
                except AttributeError:
                    pass

        _NOTEBOOK_BAR = NotebookBar
    return _NOTEBOOK_BAR


def getname(f):
    for attr in ("__name__", "name"):
        try:
            return getattr(f, attr)
        except Exception:
            pass
    return str(f)

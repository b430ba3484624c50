"""Small helpers shared by the client modules."""

import socket
import sys
import types
import warnings
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


def is_local_ip(ip):
    """Whether ``ip`` is an address of this machine: loopback, or one a socket can bind."""
    if ip.startswith("127.") or ip in ("::1", "localhost"):
        return True
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((ip, 0))
        return True
    except OSError:
        return False


def warn_if_controller_elsewhere(config, is_local=is_local_ip):
    """ipyparallel's warning for a connection file copied from another machine whose
    controller listens on loopback only: this client cannot reach it there."""
    location, ip = config.get("location"), config.get("ip", "")
    if not location or not (ip.startswith("127.") or ip in ("::1", "localhost")):
        return
    try:
        location_ip = socket.gethostbyname(location)
    except OSError:
        location_ip = location
    if not is_local(location_ip) and location != socket.gethostname():
        warnings.warn(
            "The controller listens on localhost of %s, which is not this machine: connect "
            "from there, or start the controller with --ip set to an address this machine "
            "can reach." % location, RuntimeWarning, stacklevel=3)


def utcnow():
    return datetime.now(timezone.utc)


def parse_date(value):
    """A timezone-aware datetime from an ISO 8601 string (or passthrough)."""
    if not isinstance(value, str):
        return value
    try:
        stamp = datetime.fromisoformat(value)  # Python 3.11 reads a "Z" suffix too
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


def require_engines(ids, targets, client):
    """``ids``, the engine ids ``targets`` stands for; IndexError if there are none
    (``rc[10:20]`` of 4 engines): a request to nobody is a mistake, not ``[]``."""
    if not ids:
        raise IndexError("no engines in targets %r (engines: %s)" % (targets, client.ids))
    return ids

"""Helpers that clients apply on engines for push, pull and clear.

push and pull are ``_push`` and ``_pull``, as ipyparallel's are: an AsyncResult shows the
name of the function it ran (``ar._fname``), and code written for ipyparallel may read it.

They are pickled by reference (this module is installed on every engine), so
they cost a few bytes per request. They act on the engine's user namespace,
``sys.modules["__main__"].__dict__``.
"""

import sys


def _user_ns():
    return sys.modules["__main__"].__dict__


def _push(**values):
    """Assign each name (which may be a dotted target such as ``a.b``)."""
    ns = _user_ns()
    tmp = "_ensemble_push_value_"
    while tmp in ns:
        tmp += "_"
    try:
        for name, value in values.items():
            if name.isidentifier():
                ns[name] = value
            else:
                ns[tmp] = value
                exec("%s = %s" % (name, tmp), ns)
    finally:
        ns.pop(tmp, None)


def _pull(names):
    """The value of one expression, or a list for a list/tuple/set of them."""
    ns = _user_ns()
    if isinstance(names, (list, tuple, set)):
        return [eval(name, ns) for name in names]
    return eval(names, ns)


def clear():
    """Forget every user name, keeping the interpreter's own entries."""
    ns = _user_ns()
    for name in list(ns):
        if not (name.startswith("__") and name.endswith("__")) and name not in _KEEP:
            del ns[name]


_KEEP = {"In", "Out", "_ih", "_oh", "_", "__", "___", "get_ipython", "exit", "quit"}


def import_module(name, fromlist, level):
    """``import name`` (or ``from name import ...``) into the user namespace."""
    ns = _user_ns()
    module = __import__(name, ns, ns, fromlist, level)
    if fromlist:
        for key in fromlist:
            ns[key] = getattr(module, key)
    else:
        ns[name.split(".")[0]] = module


def send_signal(sig):
    """Deliver signal ``sig`` (number or name such as "SIGINT") to this engine."""
    import os
    import signal

    if isinstance(sig, str):
        sig = getattr(signal, sig)
    os.kill(os.getpid(), sig)


def map_items(f, *sequences):
    """``view.map``'s per-engine work: ``f`` over one partition of the sequences."""
    return list(map(f, *sequences))

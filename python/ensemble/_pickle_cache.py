"""Sending the same function again without pickling it again.

cloudpickle sends a ``__main__`` function by value: its code and the values of the globals,
defaults and closure it uses. That costs 10-25 µs per call, a large part of an
``apply_async`` of a small function, repeated for every call of a loop. The pickle can be
sent again as long as nothing it holds can have changed: the same code object, no closure,
no attributes, and every global it names and every default either a module (the same
object) or an immutable scalar (the same value). Anything else is pickled afresh each time.
"""

import types
import weakref

try:  # the names a code object reads from its globals, as cloudpickle collects them
    from cloudpickle.cloudpickle import _extract_code_globals
except ImportError:  # a cloudpickle without it: no cache
    _extract_code_globals = None

_ATOMS = (type(None), bool, int, float, complex, str, bytes)
_MISSING = object()
# code object -> (fingerprint, PrePickled): functions made again and again from one code (a
# lambda in a loop) share an entry, and an entry goes when its code does.
_cache = weakref.WeakKeyDictionary()


def _fingerprint(f):
    """Everything ``f``'s pickle depends on, or None when it could change unseen."""
    if f.__closure__ or f.__dict__ or _extract_code_globals is None:
        return None
    defaults = f.__defaults__ or ()
    kwdefaults = tuple((f.__kwdefaults__ or {}).items())
    annotations = tuple((f.__annotations__ or {}).items())
    for value in (*defaults, *(v for _, v in kwdefaults)):
        if type(value) not in _ATOMS:
            return None
    for _, value in annotations:
        if type(value) not in _ATOMS and not (type(value) is type and value.__module__ == "builtins"):
            return None
    namespace = f.__globals__
    used = []
    for name in _extract_code_globals(f.__code__):
        value = namespace.get(name, _MISSING)
        if value is _MISSING or type(value) is types.ModuleType:
            used.append(value)  # compared by identity
        elif type(value) in _ATOMS:
            used.append((type(value), value))  # 1, 1.0 and True differ
        else:
            return None
    return (f.__name__, f.__qualname__, f.__module__, f.__doc__, tuple(type(v) for v in defaults),
            defaults, kwdefaults, annotations, tuple(used))


def cached(f, prepickle):
    """``f`` pickled once (``prepickle(f)``, a PrePickled that does not keep ``f``) and
    reused while that is safe; otherwise ``f`` itself."""
    if type(f) is not types.FunctionType:
        return f
    fingerprint = _fingerprint(f)
    if fingerprint is None:
        return f
    hit = _cache.get(f.__code__)
    if hit is not None and hit[0] == fingerprint:
        return hit[1]
    pickled = prepickle(f, keep=False)
    _cache[f.__code__] = (fingerprint, pickled)
    return pickled


def _plain(value, plain_types):
    kind = type(value)
    if kind in _ATOMS or kind in plain_types:
        return True
    if kind is list or kind is tuple:
        return all(type(item) in _ATOMS for item in value)
    return kind is range  # a map's partition of a range is a range


def plain(args, kwargs, plain_types=()):
    """Whether the standard pickler makes of ``args`` and ``kwargs`` what cloudpickle would:
    scalars, lists and tuples of scalars, ranges, and instances of ``plain_types``."""
    return all(_plain(a, plain_types) for a in args) and all(_plain(v, plain_types) for v in kwargs.values())

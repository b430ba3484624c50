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
from itertools import repeat
from operator import is_

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
    global _last
    if type(f) is not types.FunctionType:
        return f
    last = _last
    if last is not None and last[0]() is f and _same_as_when_fingerprinted(f, last):
        return last[4]
    fingerprint = _fingerprint(f)
    if fingerprint is None:
        return f
    hit = _cache.get(f.__code__)
    if hit is not None and hit[0] == fingerprint:
        pickled = hit[1]
    else:
        pickled = prepickle(f, keep=False)
        _cache[f.__code__] = (fingerprint, pickled)
    names = tuple(_extract_code_globals(f.__code__))
    _last = (weakref.ref(f, _forget_last), _identities(f), names, _global_values(f, names), pickled)
    return pickled


# The function last returned pickled, with the objects its fingerprint was made from: a loop
# sending one function compares those by identity (0.5 µs) instead of fingerprinting (2.4 µs).
# (weakref to it, _identities, names of its globals, their values, its PrePickled); it goes
# with the function, so it keeps nothing alive that the function would not.
_last = None


def _forget_last(ref):
    global _last
    last = _last
    if last is not None and last[0] is ref:
        _last = None


def _identities(f):
    return (f.__code__, f.__defaults__, f.__kwdefaults__, f.__name__, f.__qualname__, f.__module__, f.__doc__,
            f.__globals__)


def _global_values(f, names):
    return tuple(map(f.__globals__.get, names, repeat(_MISSING)))


def _same_as_when_fingerprinted(f, last):
    # by identity: equal values can pickle differently (a default of 1 or of True);
    # the annotations dict can change in place, so only a function without any gets here
    return (not f.__dict__ and not f.__annotations__ and all(map(is_, _identities(f), last[1]))
            and all(map(is_, _global_values(f, last[2]), last[3])))


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

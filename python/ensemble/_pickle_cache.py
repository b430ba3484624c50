"""Sending the same function again without pickling it again.

cloudpickle sends a ``__main__`` function by value: its code and the values of the globals,
defaults and closure it uses. That costs 10-25 µs per call, a large part of an
``apply_async`` of a small function, repeated for every call of a loop. The pickle can be
sent again as long as nothing it holds can have changed: the same code object, no closure,
no attributes, and every global it names and every default either a module (the same
object) or an immutable scalar (the same value). Anything else is pickled afresh each time.
"""

import io
import pickle
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


# A longer list or tuple is not checked item by item (38 µs per 1000 items, three times
# cloudpickle's whole pickle of them) but by _PlainPickler as it pickles (pickled_if_plain).
_CHECKED_ITEMS = 64


def _plain(value, plain_types):
    kind = type(value)
    if kind in _ATOMS or kind in plain_types:
        return True
    if kind is list or kind is tuple:
        return len(value) <= _CHECKED_ITEMS and all(type(item) in _ATOMS for item in value)
    return kind is range  # a map's partition of a range is a range


def _long_sequences(args, kwargs):
    """Whether a list or tuple among ``args`` or ``kwargs``' values is too long for plain()."""
    return any(type(v) in (list, tuple) and len(v) > _CHECKED_ITEMS
               for v in (*args, *kwargs.values()))


def standard_pickle(obj, args, kwargs, plain_types=(), plain_globals=()):
    """``obj`` (which holds ``args`` and ``kwargs``) pickled by the standard C pickler when
    that makes of it what cloudpickle would (see plain()); None when cloudpickle is needed.
    Short sequences are checked first, item by item; long ones as they are pickled."""
    if plain(args, kwargs, plain_types):
        return pickle.dumps(obj, protocol=5)
    if _long_sequences(args, kwargs):  # a map's chunk of a list, or its results
        return pickled_if_plain(obj, plain_types, plain_globals)
    return None


class _NotPlain(Exception):
    pass


class _PlainPickler(pickle.Pickler):
    """The C pickler for values it pickles as cloudpickle would: atoms, the builtin
    containers of them, ranges and instances of ``plain_types``, whose reductions may name
    the functions and classes in ``plain_globals`` (by reference, as cloudpickle names
    them too). Anything else (another function or class, any other object) stops it, and
    the caller uses cloudpickle. The C pickler calls reducer_override only for types it
    does not write itself, so a list of 10,000 ints costs no Python call per item."""

    def __init__(self, file, plain_types, plain_globals):
        super().__init__(file, protocol=5)
        self._allowed = _ATOMS + (list, tuple, dict, set, frozenset, range) + tuple(plain_types)
        self._globals = plain_globals

    def reducer_override(self, obj):
        if type(obj) in self._allowed or any(obj is known for known in self._globals):
            return NotImplemented  # pickled as the standard pickler does
        raise _NotPlain


def pickled_if_plain(obj, plain_types=(), plain_globals=()):
    """``obj`` pickled by _PlainPickler (protocol 5, in band), or None if it is not plain."""
    stream = io.BytesIO()
    try:
        _PlainPickler(stream, plain_types, plain_globals).dump(obj)
    except _NotPlain:
        return None
    return stream.getbuffer()


def plain(args, kwargs, plain_types=()):
    """Whether the standard pickler makes of ``args`` and ``kwargs`` what cloudpickle would:
    scalars, lists and tuples of scalars, ranges, and instances of ``plain_types``."""
    # loops, not all() over generators: two function objects and two generators fewer for
    # every apply (most have a few arguments, or none)
    for value in args:
        if not _plain(value, plain_types):
            return False
    for value in kwargs.values():
        if not _plain(value, plain_types):
            return False
    return True

"""Serialization of calls and results between clients and engines.

Wire form (docs/parallel-protocol.md): ``[payload, oob...]`` where ``payload``
is a pickle (protocol 5, cloudpickle for code) and each following buffer is an
out-of-band ``PickleBuffer`` (numpy arrays and other contiguous buffers of at
least ``OOB_THRESHOLD`` bytes), sent without being copied into the pickle.

Functions from ``__main__`` and from the user's own modules (anything not
installed under the interpreter's prefix) travel by value, as ipyparallel
sends function code; library functions travel by reference. A user module's
function runs in that module's namespace on an engine that can import it
(_module_functions.py). Classes of the
user's own modules travel by reference with their definition as a fallback,
for engines that cannot import them.
"""

import copyreg
import importlib
import pickle
import types
import weakref

from . import _dill, _pickle_cache
from ._user_modules import is_user_module as _is_user_module

__all__ = [
    "Reference", "PrePickled", "pack_apply", "unpack_apply", "pack_result",
    "unpack_result", "serialize_object", "deserialize_object",
    "pack_apply_message", "unpack_apply_message", "can", "uncan",
    "use_cloudpickle", "use_pickle", "use_dill",
]

OOB_THRESHOLD = 1024


class Reference:
    """A name (any expression) evaluated in the engine's namespace when the
    call that carries it runs: ``view.apply(f, Reference('a'))``."""

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError("illegal name: %r" % (name,))
        self.name = name

    def __repr__(self):
        return "<Reference: %r>" % self.name

    def get_object(self, namespace=None):
        return eval(self.name, namespace if namespace is not None else {})


class PrePickled:
    """An object pickled once, to be sent many times (map's function, in every
    chunk): each send embeds the same pickle instead of pickling it again."""

    def __init__(self, obj, keep=True):
        self.obj = obj if keep else None  # not kept: a cache of these must not hold what it pickled
        self.buffers = serialize_object(obj)
        self._payload = bytes(self.buffers[0])

    def value(self):
        return self.obj if self.obj is not None else _loads(self.buffers)

    def __reduce__(self):
        oob = [pickle.PickleBuffer(b) for b in self.buffers[1:]]
        return (_unpickle_prepickled, (self._payload, *oob))


def _unpickle_prepickled(payload, *oob):
    if oob:
        return _load(payload, oob)
    kept = _prepickled_functions.get(payload)
    if kept is not None:
        f, defaults, kwdefaults = kept
        # unchanged since: code that got hold of it without rebind() may have set on it
        if not f.__dict__ and f.__defaults__ is defaults and f.__kwdefaults__ is kwdefaults:
            return f
        del _prepickled_functions[payload]
    obj = _load(payload)
    if _reusable(obj):
        if len(_prepickled_functions) >= 256:
            del _prepickled_functions[next(iter(_prepickled_functions))]  # the oldest
        _prepickled_functions[payload] = (obj, obj.__defaults__, obj.__kwdefaults__)
    return obj


# An engine gets the same pickled function with every task of a loop or a map, and
# rebuilding it (cloudpickle makes the code, the function and its globals) was most of a
# no-op apply: 7.6 µs warm, 27 µs between the applies of a round-trip loop. payload ->
# (function, its defaults, its keyword defaults), for those that no call can change: from
# __main__, so that rebind() gives each call a function of its own, and carrying nothing
# mutable.
_prepickled_functions = {}


def _reusable(f):
    if type(f) is not types.FunctionType or f.__module__ != "__main__" or f.__closure__ or f.__dict__:
        return False
    values = [*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).values(),
              *(v for k, v in f.__globals__.items() if not k.startswith("__"))]
    if not all(type(v) in _pickle_cache._ATOMS or type(v) is types.ModuleType for v in values):
        return False
    return all(type(v) in _pickle_cache._ATOMS or type(v) is type for v in (f.__annotations__ or {}).values())


_pickler_class = None


def _pickler():
    global _pickler_class
    if _pickler_class is None:
        import cloudpickle

        from cloudpickle import cloudpickle_fast

        from . import _module_functions

        class Pickler(cloudpickle.CloudPickler):
            ship_module_globals = True  # False: a user module's functions take the engine's
            saw_module_function = False

            def _function_reduce(self, obj):
                module = getattr(obj, "__module__", None)
                if module is not None and module != "__main__" and _is_user_module(module):
                    self.saw_module_function = True
                    return _module_functions.reduce(self, obj, self.ship_module_globals)
                if _is_user_module(module):
                    return self._dynamic_function_reduce(obj)
                return super()._function_reduce(obj)

            def reducer_override(self, obj):
                if (isinstance(obj, type) and obj.__module__ != "__main__"
                        and _is_user_module(obj.__module__)
                        and cloudpickle_fast._should_pickle_by_reference(obj)):
                    make, args, state = cloudpickle_fast._dynamic_class_reduce(obj)[:3]
                    return (_import_class_or_make, (obj.__module__, obj.__qualname__, make, *args),
                            state, None, None, _set_rebuilt_class_state)
                if type(obj) is memoryview and obj.c_contiguous:
                    # a memoryview stays a memoryview (cloudpickle would send bytes), and a
                    # large one travels out of band like an array
                    return _memoryview_from, (pickle.PickleBuffer(obj), obj.format, obj.shape)
                return super().reducer_override(obj)

        _pickler_class = Pickler
    return _pickler_class


def _memoryview_from(buffer, format="B", shape=None):
    view = memoryview(buffer).cast("B")
    return view if format == "B" and shape == (view.nbytes,) else view.cast(format, shape)


_REBUILT_CLASSES = weakref.WeakSet()


def _import_class_or_make(module, qualname, make, *args):
    """A class of the user's own modules, on the receiving side: the class found by importing
    ``module`` where that works (so ``isinstance`` with it holds), else the class rebuilt from
    its definition (an engine that lacks the module, e.g. a test module)."""
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, type):
            return obj
    except Exception:
        pass
    cls = make(*args)
    _REBUILT_CLASSES.add(cls)
    return cls


def _set_rebuilt_class_state(cls, state):
    if cls in _REBUILT_CLASSES:
        from cloudpickle.cloudpickle_fast import _class_setstate

        return _class_setstate(cls, state)
    return cls


def _dumps(obj):
    """``[payload, oob...]`` for ``obj``."""
    import io

    oob = []

    def keep(buffer):
        view = buffer.raw()
        if view.nbytes < OOB_THRESHOLD:
            return True  # in band
        oob.append(view)
        return False

    stream = io.BytesIO()
    pickler_class = _dill_pickler if _dill_pickler is not None else _pickler()
    pickler = pickler_class(stream, protocol=5, buffer_callback=keep)
    try:
        pickler.dump(obj)
    except Exception:
        if not getattr(pickler, "saw_module_function", False):
            raise
        # a global of a module function may be what failed (a lock): without them, the
        # engine's import of the module provides them (_module_functions)
        stream, oob[:] = io.BytesIO(), []
        pickler = pickler_class(stream, protocol=5, buffer_callback=keep)
        pickler.ship_module_globals = False
        pickler.dump(obj)
    return [stream.getbuffer()] + oob


def _loads(buffers):
    return _load(buffers[0], buffers[1:])


def _load(payload, oob=()):
    if _dill_pickler is None:
        try:
            return pickle.loads(payload, buffers=oob)
        except ModuleNotFoundError as exc:
            # a dill pickle (it names the receiver's __main__ "__builtin__.__main__") that came
            # before this side's use_dill() did, by another route
            if exc.name != "__builtin__":
                raise
    return _dill.load(payload, oob)


def serialize_object(obj, buffer_threshold=None, item_threshold=None):
    return _dumps(obj)


def deserialize_object(buffers, g=None):
    """``(obj, remaining_buffers)``; all buffers belong to one object."""
    return _loads(buffers), []


def pack_apply(f, args, kwargs):
    """The buffers of an apply_request for ``f(*args, **kwargs)``."""
    f = _pickle_cache.cached(f, PrePickled)
    args, kwargs = tuple(args), dict(kwargs)
    # a map's function comes pickled already, as an argument of every chunk
    plain_types = (Reference, PrePickled) if _in_band(args) else (Reference,)
    if type(f) is PrePickled and len(f.buffers) == 1:
        # nothing left that needs cloudpickle: the standard (C) pickler is several times faster.
        # The function goes as its pickle's bytes (unpack_apply loads them): pickling the
        # PrePickled itself called its __reduce__ and looked up the loader's module, 1.7 µs of
        # the 2 µs that pickling took in a submit loop.
        pickled = _pickle_cache.standard_pickle((f._payload, args, kwargs), args, kwargs, plain_types,
                                                _PLAIN_GLOBALS)
        if pickled is not None:
            return [pickled]
    return _dumps((f, args, kwargs))


# what the reductions of PrePickled and Reference name (see _pickle_cache.pickled_if_plain)
_PLAIN_GLOBALS = (copyreg.__newobj__, Reference, _unpickle_prepickled)


def _in_band(values):
    """Whether every PrePickled among ``values`` is one in-band pickle (one with
    out-of-band buffers goes through cloudpickle, which keeps them out of band)."""
    for value in values:  # a loop, not all() over a generator: this runs for every apply
        if type(value) is PrePickled and len(value.buffers) != 1:
            return False
    return True


def unpack_apply(buffers, namespace):
    """``(f, args, kwargs)`` ready to call in ``namespace``: References are
    evaluated there and ``__main__`` functions rebound to it."""
    f, args, kwargs = _loads(buffers)
    if type(f) is bytes:  # a function pickled once, sent as its pickle (pack_apply); bytes are not callable
        f = _unpickle_prepickled(f)
    f = resolve(f, namespace)
    # no comprehension (a function object and a call) for the many applies without arguments
    args = resolve(list(args), namespace) if args else []
    kwargs = {k: resolve(v, namespace) for k, v in kwargs.items()} if kwargs else {}
    return f, args, kwargs


def pack_result(obj):
    # most results are a scalar or a list of them, which the C pickler writes as cloudpickle
    # would, without making a cloudpickle Pickler (1.5 µs warm, 9 µs in a round-trip loop)
    pickled = _pickle_cache.standard_pickle(obj, (obj,), {})
    return [pickled] if pickled is not None else _dumps(obj)


def unpack_result(buffers):
    return _loads(buffers)


pack_apply_message = pack_apply


def unpack_apply_message(buffers, g=None, copy=True):
    return unpack_apply(buffers, g if g is not None else {})


def resolve(obj, namespace):
    """``obj`` with Reference values evaluated in ``namespace`` and functions
    from ``__main__`` given ``namespace`` as globals; walks into lists, tuples
    and dicts, and into objects whose class defines
    ``_ensemble_resolve_(self, namespace)``."""
    t = type(obj)
    if t is Reference:
        return obj.get_object(namespace)
    if t is PrePickled:
        return resolve(obj.value(), namespace)
    if t is types.FunctionType:
        return rebind(obj, namespace)
    if t is list:
        return [resolve(x, namespace) for x in obj]
    if t is tuple:
        return tuple(resolve(x, namespace) for x in obj)
    if t is dict:
        return {k: resolve(v, namespace) for k, v in obj.items()}
    hook = getattr(t, "_ensemble_resolve_", None)
    if hook is not None:
        return hook(obj, namespace)
    return obj


def rebind(f, namespace):
    """``f`` running with ``namespace`` as globals if it comes from __main__.

    By default, names ``f`` captured on the client that ``namespace`` lacks
    are added to it first (never overwriting the engine's own values). After
    ``use_pickle()`` only the engine's names count (ipyparallel's pickle
    semantics); after ``use_cloudpickle()``/``use_dill()`` the captured values
    win, in a copy of ``namespace`` (ipyparallel's cloudpickle semantics).
    """
    if not isinstance(f, types.FunctionType) or f.__module__ != "__main__":
        return f
    if f.__globals__ is namespace:
        return f
    captured = {name: value for name, value in f.__globals__.items()
                if not name.startswith("__")}
    if _globals_policy == "client":
        namespace = dict(namespace)
        namespace.update(captured)
    elif _globals_policy == "merge":
        for name, value in captured.items():
            if name not in namespace:
                namespace[name] = value
    g = types.FunctionType(f.__code__, namespace, f.__name__, f.__defaults__, f.__closure__)
    # copies: `f` may be the one an engine reuses for every call (_prepickled_functions)
    g.__kwdefaults__ = dict(f.__kwdefaults__) if f.__kwdefaults__ else None
    g.__dict__.update(f.__dict__)
    g.__qualname__ = f.__qualname__
    g.__doc__ = f.__doc__
    g.__module__ = "__main__"
    g.__annotations__ = dict(f.__annotations__)
    return g


def can(obj):
    """Kept for ipyparallel compatibility: cloudpickle needs no canning."""
    return obj


def uncan(obj, g=None):
    return resolve(obj, g if g is not None else {})


# how rebind treats the globals a __main__ function captured on the client:
# "merge" (Ensemble's default), "engine" (use_pickle) or "client" (use_cloudpickle)
_globals_policy = "merge"


# dill's Pickler once use_dill() has run (and dill is installed), else None: cloudpickle
_dill_pickler = None


def use_cloudpickle():
    """Captured client values of __main__ functions take precedence over the engine's."""
    global _globals_policy, _dill_pickler
    _globals_policy, _dill_pickler = "client", None


def use_pickle():
    """__main__ functions see the engine's namespace only, as with ipyparallel's pickle."""
    global _globals_policy, _dill_pickler
    _globals_policy, _dill_pickler = "engine", None


def use_dill():
    """As use_cloudpickle, and what is not a plain value is pickled with dill, which also
    sends what cloudpickle cannot (a closure over an open file). Without dill installed,
    cloudpickle stays, with a warning. The receiving side needs dill to load such pickles."""
    global _dill_pickler
    use_cloudpickle()
    _dill_pickler = _dill.pickler_or_none()

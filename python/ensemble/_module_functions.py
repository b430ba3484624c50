"""Functions of the user's own modules (not ``__main__``), as they travel to engines.

Their code goes by value, as ipyparallel sends it, so an engine runs the client's version.
Where the engine can import the module, the function runs in that module's namespace, as
with ipyparallel: module state (a counter, a cache, a connection) lives on in the engine
from call to call, and the globals are the engine's own objects, so a module-level lock or
open file needs no pickling. Where it cannot (an engine without the user's files, a test
module), the globals the function uses come with it, as cloudpickle sends them. A global
that cannot be pickled (a lock) leaves the function to its module on the engine: the
sender pickles again without the globals (serialize._dumps).
"""

import importlib
import sys
import types
import weakref

from cloudpickle import cloudpickle_fast

# functions made in their module's own namespace, whose shipped globals must not replace it
_IN_MODULE = weakref.WeakSet()
# module name -> the sys.path under which importing it failed: each call must not search
# the path again, but a module the engine can import since (sys.path grew) is found
_NOT_IMPORTABLE = {}


def reduce(pickler, func, with_globals):
    """The reduction of ``func`` for ``pickler`` (a cloudpickle Pickler)."""
    code, base_globals, _, _, closure = pickler._function_getnewargs(func)
    state, slotstate = cloudpickle_fast._function_getstate(func)
    if not with_globals:
        slotstate = dict(slotstate, __globals__={})
    return (_make, (func.__module__, code, base_globals, closure), (state, slotstate), None, None,
            _set_state)


def _module_namespace(name):
    module = sys.modules.get(name)
    if module is None:
        failed_under = _NOT_IMPORTABLE.get(name)
        if failed_under is not None and failed_under == sys.path:
            return None
        try:
            module = importlib.import_module(name)
        except Exception:  # not on this side's path, or broken here: the shipped globals serve
            _NOT_IMPORTABLE[name] = list(sys.path)
            return None
    return getattr(module, "__dict__", None)


def _make(module_name, code, base_globals, closure):
    namespace = _module_namespace(module_name)
    if namespace is None:
        base_globals["__builtins__"] = __builtins__
        return types.FunctionType(code, base_globals, None, None, closure)
    func = types.FunctionType(code, namespace, None, None, closure)
    _IN_MODULE.add(func)
    return func


def _set_state(func, state):
    if func in _IN_MODULE:
        state, slotstate = state
        state = (state, dict(slotstate, __globals__={}))
    return cloudpickle_fast._function_setstate(func, state)

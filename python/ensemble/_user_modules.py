"""Which modules are the user's own code, which cloudpickle must send by value because an
engine may not have them: any module whose file is outside the standard library,
site-packages/dist-packages, the Python prefixes and Ensemble's own package."""

import os
import sys
import sysconfig

_LIBRARY_ROOTS = None


def _library_roots():
    global _LIBRARY_ROOTS
    if _LIBRARY_ROOTS is None:
        roots = {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            path = sysconfig.get_paths().get(key)
            if path:
                roots.add(os.path.realpath(path))
        roots.update(os.path.realpath(p) for p in sys.path
                     if p and ("site-packages" in p or "dist-packages" in p))
        roots.add(os.path.realpath(sys.prefix))
        roots.add(os.path.realpath(sys.base_prefix))
        _LIBRARY_ROOTS = tuple(r for r in roots if r and r != "/")
    return _LIBRARY_ROOTS


_USER_MODULE_CACHE = {}  # module name -> (module object, answer); realpath is slow


def is_user_module(name):
    """Whether module ``name`` is the user's code, which an engine may lack."""
    if name in (None, "__main__"):
        return True
    module = sys.modules.get(name)
    cached = _USER_MODULE_CACHE.get(name)
    if cached is not None and cached[0] is module:
        return cached[1]
    path = getattr(module, "__file__", None)
    if module is None or path is None:
        answer = False
    else:
        path = os.path.realpath(path)
        answer = not any(path.startswith(root + os.sep) for root in _library_roots())
    _USER_MODULE_CACHE[name] = (module, answer)
    return answer

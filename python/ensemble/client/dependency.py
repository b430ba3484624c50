"""Task dependencies: ``@depend``, ``@require`` and ``Dependency``.

A ``dependent`` function checks its dependency on the engine, as the engine
unpacks it, and raises UnmetDependency there if it is not met: the scheduler
then tries another engine. Called where it was made, it is just the function.
"""

from functools import partial
from types import ModuleType

from ..error import UnmetDependency


class depend:
    """``@depend(df, *args, **kwargs)``: run only where ``df(*args, **kwargs)``
    is not False."""

    def __init__(self, _wrapped_f, *args, **kwargs):
        self.f = _wrapped_f
        self.args = args
        self.kwargs = kwargs

    def __call__(self, f):
        return dependent(f, self.f, *self.args, **self.kwargs)


class dependent:
    """A function paired with the dependency check to run before it (an
    object rather than a closure so that it pickles)."""

    def __init__(self, _wrapped_f, _wrapped_df, *dargs, **dkwargs):
        self.f = _wrapped_f
        self.__name__ = getattr(_wrapped_f, "__name__", "f")
        self.df = _wrapped_df
        self.dargs = dargs
        self.dkwargs = dkwargs

    def _ensemble_resolve_(self, namespace):
        from ensemble.serialize import resolve

        # @require imports into the namespace the function runs in (ipyparallel's _require
        # uses its own, rebound, globals)
        df = partial(_require_in, namespace) if self.df is _require else resolve(self.df, namespace)
        resolved = dependent(resolve(self.f, namespace), df,
                             *resolve(list(self.dargs), namespace),
                             **resolve(dict(self.dkwargs), namespace))
        resolved.check_dependency()  # where ipyparallel checks it: as the engine unpacks it
        return resolved

    def check_dependency(self):
        if self.df(*self.dargs, **self.dkwargs) is False:
            raise UnmetDependency()

    def __call__(self, *args, **kwargs):
        return self.f(*args, **kwargs)


def _require(*modules, **mapping):
    """Engine side of @require: import ``modules`` and define ``mapping``
    in the user namespace."""
    import sys

    return _require_in(sys.modules["__main__"].__dict__, *modules, **mapping)


def _require_in(user_ns, *modules, **mapping):
    from ensemble import serialize
    from ensemble.error import UnmetDependency

    for name in modules:
        try:
            exec("import %s" % name, user_ns)
        except ImportError:
            raise UnmetDependency(name) from None
    for name, obj in mapping.items():
        user_ns[name] = serialize.resolve(obj, user_ns)
    return True


def require(*objects, **mapping):
    """``@require('numpy', helper, x=obj)``: before the function runs on an
    engine, import the modules and define the objects there (functions
    under their ``__name__``, others by keyword)."""
    names = []
    for obj in objects:
        if isinstance(obj, ModuleType):
            obj = obj.__name__
        if isinstance(obj, str):
            names.append(obj)
        elif hasattr(obj, "__name__"):
            mapping[obj.__name__] = obj
        else:
            raise TypeError("Objects other than modules and functions must be passed by "
                            "kwarg, but got: %s" % type(obj))
    return depend(_require, *names, **mapping)


class Dependency(set):
    """A set of msg_ids a task depends on, with ``all`` (all vs any),
    ``success`` and ``failure`` (which outcomes count as met)."""

    all = True
    success = True
    failure = True

    def __init__(self, dependencies=[], all=True, success=True, failure=False):
        from .asyncresult import AsyncResult

        if isinstance(dependencies, dict):
            all = dependencies.get("all", True)
            success = dependencies.get("success", success)
            failure = dependencies.get("failure", failure)
            dependencies = dependencies.get("dependencies", [])
        if isinstance(dependencies, (str, AsyncResult)):
            dependencies = [dependencies]
        ids = []
        for d in dependencies:
            if isinstance(d, str):
                ids.append(d)
            elif isinstance(d, AsyncResult):
                ids.extend(d.msg_ids)
            else:
                raise TypeError("invalid dependency type: %r" % type(d))
        set.__init__(self, ids)
        self.all = all
        if not (success or failure):
            raise ValueError("Must depend on at least one of successes or failures!")
        self.success = success
        self.failure = failure

    def check(self, completed, failed=None):
        """Whether the dependency is met given completed/failed msg_ids."""
        if not self:
            return True
        against = set(completed) if self.success else set()
        if failed is not None and self.failure:
            against |= set(failed)
        return self.issubset(against) if self.all else not self.isdisjoint(against)

    def unreachable(self, completed, failed=None):
        """Whether the dependency can no longer be met."""
        if not self:
            return False
        against = set(completed) if not self.success else set()
        if failed is not None and not self.failure:
            against |= set(failed)
        return not self.isdisjoint(against) if self.all else self.issubset(against)

    def as_dict(self):
        return {"dependencies": list(self), "all": self.all, "success": self.success,
                "failure": self.failure}


__all__ = ["depend", "require", "dependent", "Dependency"]

"""What the Jupyter debugger shows of the namespace while no cell is stopped at a
breakpoint: the variables panel (inspectVariables, then ``variables`` to open one) and a
variable's rich view (richInspectVariables). While a cell is stopped, debugpy answers
these from the stopped frames instead (debugger.py)."""

import re

# The namespace's own machinery, not the user's variables (as ipykernel's panel hides it).
_HIDDEN = frozenset({
    "__name__", "__doc__", "__package__", "__loader__", "__spec__", "__annotations__",
    "__builtins__", "__builtin__", "__display__", "get_ipython", "debugpy", "exit", "quit",
    "In", "Out", "_oh", "_dh", "_", "__", "___",
})
_HISTORY_NAME = re.compile(r"_\d|_i")  # _3, _i, _ii, _i3
_REPR_LENGTH = 200
_LEAF_TYPES = (str, bytes, bytearray, int, float, complex, bool, type(None))


def shown(name):
    return name not in _HIDDEN and not _HISTORY_NAME.match(name)


def short_repr(value):
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ must not break the panel
        return "<repr failed: %s: %s>" % (type(error).__name__, error)
    return text if len(text) <= _REPR_LENGTH else text[:_REPR_LENGTH - 3] + "..."


def _expandable(value):
    if isinstance(value, _LEAF_TYPES):
        return False
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return len(value) > 0
    try:
        return bool(vars(value))
    except TypeError:
        return False


class NamespaceView:
    """The panel's view of a namespace. A reference it hands out names an object it
    keeps until the next ``top()``, which the panel calls on each refresh."""

    def __init__(self):
        self._opened = {}  # reference -> (object, the expression that names it)

    def top(self, namespace):
        self._opened = {}
        items = [(name, value) for name, value in list(namespace.items()) if shown(name)]
        return [self._variable(name, value, name) for name, value in items]

    def children(self, reference, start=0, count=0):
        """The variables inside the object ``reference`` names; None for an unknown one."""
        if reference not in self._opened:
            return None
        value, parent = self._opened[reference]
        if isinstance(value, dict):
            entries = [(repr(key), item, "[%r]" % (key,)) for key, item in list(value.items())]
        elif isinstance(value, (list, tuple)):
            entries = [(str(index), item, "[%d]" % index) for index, item in enumerate(value)]
        elif isinstance(value, (set, frozenset)):
            entries = [(str(index), item, None) for index, item in enumerate(list(value))]
        else:
            try:
                attributes = list(vars(value).items())
            except TypeError:
                attributes = []
            entries = [(name, item, "." + name) for name, item in attributes]
        entries = entries[start:start + count] if count else entries[start:]
        return [self._variable(name, item, parent + suffix if parent and suffix else None)
                for name, item, suffix in entries]

    def _variable(self, name, value, evaluate_name):
        reference = 0
        if _expandable(value):
            reference = len(self._opened) + 1
            self._opened[reference] = (value, evaluate_name)
        variable = {"name": name, "value": short_repr(value), "type": type(value).__name__,
                    "variablesReference": reference}
        if evaluate_name:
            variable["evaluateName"] = evaluate_name
        return variable


def rich_view(runtime, value):
    """``value``'s MIME bundle, as the kernel would display it."""
    data, metadata = runtime.format(value)
    return {"data": data, "metadata": {key: item for key, item in metadata.items() if key in data}}


def rich_view_json(value):
    """The same as JSON text: what an `evaluate` in a stopped frame returns for it."""
    import json

    from .runtime import KernelRuntime

    return json.dumps(rich_view(KernelRuntime.instance, value), default=repr)

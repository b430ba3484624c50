"""Turning objects into mime bundles, the lean way when that gives the same
result as IPython, and through IPython's formatter when it does not."""

import types

# Types whose IPython pretty-printed text/plain is exactly repr().
_SCALARS = (int, float, complex, str, bytes, bool, type(None), range)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_RICH_METHODS = (
    "_repr_html_", "_repr_markdown_", "_repr_svg_", "_repr_png_", "_repr_jpeg_",
    "_repr_latex_", "_repr_json_", "_repr_javascript_", "_repr_pdf_",
    "_repr_mimebundle_", "_ipython_display_", "_repr_pretty_",
)
_PRETTY_WIDTH = 79


def _is_scalar(obj):
    return type(obj) in _SCALARS


def needs_ipython_formatter(obj):
    """True when only IPython's display formatter gives the expected output."""
    cls = type(obj)
    return any(hasattr(cls, name) for name in _RICH_METHODS)


def _has_plain_custom_repr(cls):
    # IPython's pretty printer falls back to repr() for classes that define
    # their own __repr__, unless it has a printer registered for the type.
    if cls.__repr__ is object.__repr__:
        return False
    if isinstance(cls, type) and issubclass(cls, (type, BaseException, types.FunctionType,
                                                 types.BuiltinFunctionType, *_CONTAINERS)):
        return False
    return cls.__module__ not in ("builtins", "collections", "re", "datetime")


def plain_text(obj):
    """text/plain as IPython would show it; None if only IPython can say."""
    cls = type(obj)
    if cls in _SCALARS:
        return repr(obj)
    if cls in _CONTAINERS and len(obj) <= 64:
        items = obj.items() if cls is dict else ((x, None) for x in obj)
        if all(_is_scalar(k) and _is_scalar(v) for k, v in items):
            text = repr(obj)
            if len(text) <= _PRETTY_WIDTH and "\n" not in text:
                return text
        return None
    if _has_plain_custom_repr(cls):
        return repr(obj)
    return None

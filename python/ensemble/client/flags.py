"""A view's flags are checked when they are set, as ipyparallel's traits check them: a
flag of the wrong type or value raises at once, from ``set_flags`` or from assigning the
attribute, and not at the next request. The errors are traitlets' TraitError (for code
written against ipyparallel) and also TypeError or ValueError."""

from contextlib import contextmanager

try:
    from traitlets import TraitError
except ImportError:  # traitlets comes with IPython; without it, code cannot catch it anyway

    class TraitError(Exception):
        pass


class FlagTypeError(TraitError, TypeError):
    """A view flag set to a value of the wrong type."""


class FlagValueError(TraitError, ValueError):
    """A view flag set to a value out of its range."""


def checked_bool(name, value):
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):  # as traitlets' Bool takes them
        return bool(value)
    raise FlagTypeError("the %r flag of a view must be a bool, not %r" % (name, value))


def checked_retries(name, value):
    if not isinstance(value, int):
        raise FlagTypeError("retries must be an int, not %r" % type(value))
    return value


def checked_timeout(name, value):
    """Seconds as a float (ipyparallel's CFloat casts); None or 0 for none."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise FlagTypeError("Invalid type for timeout: %r" % type(value)) from None
    if seconds < 0:
        raise FlagValueError("Invalid timeout: %s" % value)
    return seconds


class CheckedFlags:
    """A view's flags: ``_flag_names`` may be set by keyword, and ``_flag_checks[name]``
    runs on each assignment of one (reading one costs nothing more); the check returns the
    value to keep or raises."""

    _flag_names = []
    _flag_checks = {}

    def __setattr__(self, name, value):
        check = self._flag_checks.get(name)
        if check is not None:
            value = check(name, value)
        object.__setattr__(self, name, value)

    def set_flags(self, **kwargs):
        """Set flags (block, track, targets, ...) by keyword."""
        for name, value in kwargs.items():
            if name not in self._flag_names:
                raise KeyError("Invalid name: %r" % name)
            setattr(self, name, value)

    @contextmanager
    def temp_flags(self, **kwargs):
        """Set flags for the duration of a ``with`` block."""
        saved = {name: getattr(self, name) for name in self._flag_names}
        self.set_flags(**kwargs)
        try:
            yield
        finally:
            self.set_flags(**saved)

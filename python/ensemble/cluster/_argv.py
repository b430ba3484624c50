"""Command lines in the form ipyparallel's programs (ipcluster, ipengine, ipcontroller) take,
which are traitlets' applications: ``--name=value`` or ``--name value`` for an alias,
``-n 4`` for a one-letter alias, ``--flag`` for a flag, and ``--Class.trait=value`` for any
configurable setting. A scripted ``ipcluster start -n 4 --profile=mpi`` keeps working as
``python -m ensemble.cluster start -n 4 --profile=mpi``.
"""

import logging
import sys


def stderr_logger(name):
    """The logger ``name``, writing to stderr only (once set up), as the programs' own logs do."""
    log = logging.getLogger(name)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(name)s %(levelname)s] %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    return log


class UsageError(Exception):
    """A command line that cannot be read (a value missing, an unknown flag with no value)."""


class Parsed:
    """What a command line said: ``values`` by alias name (a flag's name maps to True),
    ``config`` by ``Class.trait``, and the ``positional`` arguments, in order."""

    def __init__(self):
        self.values = {}
        self.config = {}
        self.positional = []

    def get(self, name, default=None):
        return self.values.get(name, default)


def parse(argv, aliases, flags):
    """Reads ``argv`` (no program name). ``aliases``: the names that take a value;
    ``flags``: the names that take none. UsageError for an unknown ``--name`` that is not
    ``Class.trait`` or for an alias whose value is missing."""
    parsed = Parsed()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            parsed.positional.extend(args)
            break
        if not arg.startswith("-") or arg == "-":
            parsed.positional.append(arg)
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name in flags and not has_value:
            parsed.values[name] = True
            continue
        if name in flags and name not in aliases:  # --daemonize=True, as traitlets takes it
            parsed.values[name] = _truth(name, value)
            continue
        is_trait = "." in name and arg.startswith("--")
        if name not in aliases and not is_trait:
            raise UsageError("unrecognized argument: %s" % arg)
        if not has_value:
            if not args or (args[0].startswith("-") and not _number(args[0])):
                raise UsageError("argument %s needs a value" % arg)
            value = args.pop(0)
        if is_trait:
            parsed.config[name] = value
        else:
            parsed.values[name] = value
    return parsed


def _number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _truth(name, value):
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise UsageError("--%s takes True or False, not %r" % (name, value))


def as_int(name, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError("--%s takes an integer, not %r" % (name, value)) from None

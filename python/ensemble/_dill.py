"""dill, for ``use_dill()`` (see serialize.py); imported only once someone asks for it."""

import io
import warnings


def pickler_or_none():
    """dill's Pickler, or None, with a warning, when dill is not installed."""
    try:
        import dill
    except ImportError:
        warnings.warn("use_dill(): dill is not installed, so cloudpickle stays in use",
                      RuntimeWarning, stacklevel=3)
        return None
    return dill.Pickler


def load(payload, oob=()):
    import dill

    return dill.Unpickler(io.BytesIO(payload), buffers=oob).load()

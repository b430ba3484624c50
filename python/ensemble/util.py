"""ipyparallel's ``ipyparallel.util`` names that user code imports
(``from ipyparallel.util import interactive``, ``utc``, ...)."""

import socket
import warnings
from datetime import timezone

from .client.util import compare_datetimes, interactive, progress, utcnow  # noqa: F401

__all__ = ["compare_datetimes", "disambiguate_ip_address", "ensure_timezone", "interactive",
           "is_ip", "progress", "utc", "utcnow"]

utc = timezone.utc


def ensure_timezone(dt):
    """``dt`` with a timezone: naive datetimes are taken as local time."""
    if dt.tzinfo is None:
        return dt.astimezone()
    return dt


def is_ip(location):
    try:
        socket.inet_aton(location)
    except (OSError, TypeError):
        return False
    return True


def disambiguate_ip_address(ip, location=None):
    """Turn a wildcard bind address (``0.0.0.0``, ``*``) into one to connect to: the loopback
    address if ``location`` is this machine (or unknown), else ``location``'s address."""
    if ip in {"0.0.0.0", "*"}:
        from jupyter_client.localinterfaces import localhost, public_ips

        if location is None or location in public_ips() or location == socket.gethostname():
            return localhost()
        if not is_ip(location):
            try:
                location = socket.gethostbyname(location)
            except OSError as e:
                warnings.warn("could not determine IPs for %s: %s" % (location, e), RuntimeWarning)
                return location
        return localhost() if location in public_ips() else location
    return ip

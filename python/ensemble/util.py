"""ipyparallel's ``ipyparallel.util`` names that user code imports
(``from ipyparallel.util import interactive``, ``utc``, ...)."""

import socket
import warnings
from datetime import timezone

from ._engine.dask_worker import become_dask_worker, stop_distributed_worker  # noqa: F401
from .client.util import compare_datetimes, interactive, progress, utcnow  # noqa: F401

__all__ = ["become_dask_worker", "compare_datetimes", "disambiguate_ip_address", "disambiguate_url", "ensure_timezone",
           "interactive", "is_ip", "progress", "split_url", "stop_distributed_worker", "utc", "utcnow"]

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


def split_url(url):
    """``tcp://host:port`` as ``(proto, host, port)``; ValueError for anything else."""
    proto, sep, address = url.partition("://")
    host, colon, port = address.rpartition(":")
    if not sep or not colon or not host or not port:
        raise ValueError("not a transport://host:port url: %r" % url)
    return proto, host, port


def disambiguate_url(url, location=None):
    """A ZeroMQ url with a wildcard host (``tcp://*:10101``) as one to connect to, as
    disambiguate_ip_address picks it; other urls (``ipc://…``) come back as they are."""
    try:
        proto, host, port = split_url(url)
    except ValueError:
        return url
    return "%s://%s:%s" % (proto, disambiguate_ip_address(host, location), port)

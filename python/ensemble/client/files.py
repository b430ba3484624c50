"""Where a cluster's files live (docs/parallel-protocol.md, "Files").

``PROFILE_DIR`` defaults to ``$IPYTHONDIR/profile_PROFILE`` (``IPYTHONDIR``
defaults to ``~/.ipython``, ``PROFILE`` to ``default``); the files are in
``PROFILE_DIR/security``. The ``-ID`` part of a name is absent for the
default cluster (id ``""``).
"""

import os
import shutil
import sys


def ipython_dir():
    return os.path.expanduser(os.environ.get("IPYTHONDIR") or "~/.ipython")


def profile_dir(profile=None, profile_dir=None, ipython_dir_=None):
    if profile_dir:
        return os.path.abspath(os.path.expanduser(profile_dir))
    base = os.path.expanduser(ipython_dir_) if ipython_dir_ else ipython_dir()
    return os.path.join(base, "profile_" + (profile or "default"))


def security_dir(profile=None, profile_dir_=None, ipython_dir_=None):
    return os.path.join(profile_dir(profile, profile_dir_, ipython_dir_), "security")


def _suffix(cluster_id):
    return "-" + cluster_id if cluster_id else ""


def client_file(security, cluster_id=""):
    return os.path.join(security, "ipcontroller%s-client.json" % _suffix(cluster_id))


def engine_file(security, cluster_id=""):
    return os.path.join(security, "ipcontroller%s-engine.json" % _suffix(cluster_id))


def cluster_file(security, cluster_id=""):
    return os.path.join(security, "cluster%s.json" % _suffix(cluster_id))


def ensemble_executable():
    """The ``ensemble`` program: $ENSEMBLE_BIN, else the build tree's
    ``bin/ensemble`` next to this package, else PREFIX/bin/ensemble for an
    installed package, else ``ensemble`` on PATH."""
    env = os.environ.get("ENSEMBLE_BIN")
    if env:
        return env
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = [os.path.join(package, "..", "..", "bin", "ensemble")]
    # PREFIX/lib/pythonX.Y/{site,dist}-packages/ensemble -> PREFIX/bin
    candidates.append(os.path.join(package, "..", "..", "..", "..", "bin", "ensemble"))
    candidates.append(os.path.join(sys.prefix, "bin", "ensemble"))
    for path in candidates:
        path = os.path.normpath(path)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    found = shutil.which("ensemble")
    if found:
        return found
    raise FileNotFoundError(
        "cannot find the 'ensemble' program: set ENSEMBLE_BIN, or put it on PATH")

"""Startup files: code a user keeps for every session, run in the namespace before the first
request, as IPython kernels (ipykernel, ipyparallel's engines) run it.

The files and their order are IPython's: ``$PYTHONSTARTUP`` first, then the ``*.py`` and
``*.ipy`` files of the profile's ``startup/`` and of the system's ``etc/ipython/startup/``
directories, sorted by path. A file that raises is reported on the process's own stderr. Unlike
IPython, which skips the files after a failing one, the next file still runs: one typo should
not take away the rest of a user's setup. A file that ends the process (``os._exit``) ends it,
as it would under IPython.
"""

import contextlib
import os
import sys
import traceback


def default_profile_dir():
    """IPython's default profile directory, found the way IPython finds it, without importing
    IPython (which would cost every kernel's start ~100 ms)."""
    base = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
    return os.path.join(base, "profile_default")


def startup_files(profile_dir=""):
    """The files to run, in order, for a kernel of ``profile_dir`` (default: IPython's)."""
    files = []
    python_startup = os.environ.get("PYTHONSTARTUP")
    if python_startup and os.path.isfile(python_startup):
        files.append(python_startup)
    found = []
    for config_dir in (profile_dir or default_profile_dir(),
                       os.path.join(sys.prefix, "etc", "ipython"),
                       "/usr/local/etc/ipython", "/etc/ipython"):
        startup_dir = os.path.join(config_dir, "startup")
        try:
            names = os.listdir(startup_dir)
        except OSError:
            continue
        found += [os.path.join(startup_dir, name) for name in names
                  if name.endswith((".py", ".ipy")) and not name.startswith(".")]
    return files + sorted(found)


@contextlib.contextmanager
def _as_script(path, namespace):
    """While a file runs it sees what `python file.py` would give it: ``__file__``, its own
    ``sys.argv``, and its directory importable. What was there before comes back after."""
    missing = object()
    saved_file, saved_argv = namespace.get("__file__", missing), sys.argv
    directory = os.path.dirname(path)
    added = directory not in sys.path
    namespace["__file__"] = path
    sys.argv = [path]
    if added:
        sys.path.insert(0, directory)
    try:
        yield
    finally:
        sys.argv = saved_argv
        if added and directory in sys.path:
            sys.path.remove(directory)
        if saved_file is missing:
            namespace.pop("__file__", None)
        else:
            namespace["__file__"] = saved_file


def _run_file(runtime, path):
    with _as_script(path, runtime.namespace):
        if path.endswith(".ipy"):
            runtime.get_ipython().safe_execfile_ipy(path, raise_exceptions=True)
        else:
            with open(path, "rb") as f:
                code = compile(f.read(), path, "exec")
            exec(code, runtime.namespace)


def _run_code(runtime, code):
    exec(compile(code, "<engine init>", "exec"), runtime.namespace)


def run(runtime, profile_dir="", first_code=""):
    """Runs ``first_code`` (an MPI engine's mpi4py setup), then every startup file, in
    ``runtime``'s namespace; returns what failed (``"<engine init>"`` for first_code)."""
    failed = []
    steps = [("<engine init>", lambda: _run_code(runtime, first_code))] if first_code else []
    steps += [(path, lambda path=path: _run_file(runtime, path)) for path in startup_files(profile_dir)]
    for path, step in steps:
        try:
            step()
        except SystemExit as exc:
            if exc.code not in (None, 0):
                failed.append(path)
                print("startup file %s exited with %r; the kernel carries on" % (path, exc.code),
                      file=sys.__stderr__)
        except BaseException:
            failed.append(path)
            print("startup file %s failed; the kernel carries on:\n%s"
                  % (path, traceback.format_exc()), file=sys.__stderr__)
    if sys.__stderr__ is not None:
        sys.__stderr__.flush()
    return failed

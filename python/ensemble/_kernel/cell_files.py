"""The file name a cell's code is compiled under: the one the Jupyter debugger protocol
lets a frontend compute from the cell's text (debugInfo's hashMethod, hashSeed,
tmpFilePrefix and tmpFileSuffix), so that a breakpoint a frontend sets in a cell lands
in the code that runs. ipykernel names its cells this way whether or not a debugger is
attached, which is what lets a breakpoint stop in a function an earlier cell defined;
Ensemble does too. The file itself is written only when a frontend asks (dumpCell).

Tracebacks still say ``Cell In [3], line 2``: the runtime maps these names to counts."""

import os

try:
    from _ensemble_bridge import murmur2  # the kernel's own module, in C++
except ImportError:  # imported outside a kernel (tests of the parallel client): no cells to name
    murmur2 = None

HASH_METHOD = "Murmur2"
HASH_SEED = 0xC70F6907  # ipykernel's: any would do, as debugInfo reports it
SUFFIX = ".py"

_directory = (None, None)  # (pid, directory): a forked child is another process


def cell_directory():
    """This process's directory for cell files (it exists once a cell was dumped)."""
    pid, directory = _directory
    if pid != os.getpid():
        pid = os.getpid()
        directory = os.path.join(_temporary_root(), "ensemble_%d" % pid)
        globals()["_directory"] = (pid, directory)
    return directory


def _temporary_root():
    """tempfile.gettempdir()'s choice (TMPDIR, TEMP, TMP, else /tmp), without importing
    tempfile, which costs a kernel's start more than all of this module."""
    for name in ("TMPDIR", "TEMP", "TMP"):
        candidate = os.environ.get(name)
        if candidate and os.path.isdir(candidate):
            return os.path.abspath(candidate)
    return "/tmp"


def cell_file_prefix():
    return cell_directory() + os.sep


def cell_file_name(code):
    return "%s%d%s" % (cell_file_prefix(), murmur2(code.encode("utf-8", "surrogatepass"), HASH_SEED), SUFFIX)


def write_cell_file(code):
    """Writes ``code`` where its cell's name points (the debugger shows it from there);
    returns that path. The directory goes when the kernel ends."""
    path = cell_file_name(code)
    directory = cell_directory()
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        import atexit

        atexit.register(_remove_directory, os.getpid(), directory)
    with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(code)
    return path


def _remove_directory(pid, directory):
    if os.getpid() == pid:  # not a forked child's exit
        import shutil

        shutil.rmtree(directory, ignore_errors=True)

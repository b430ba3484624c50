"""The debugger's answers that need neither debugpy nor the relay's state: Jupyter's
requests about files and modules, and what debugpy's responses become before they go back
to the frontend (debugger.py)."""

import os
import sys

from . import cell_files
from .dap import dap_response
from .debug_variables import shown

# ensemble/: the kernel's own code, which a frontend's debugger does not step into or show
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def trim_stack(request, response):
    """The cell's frames, without the kernel's own below them."""
    frames = (response.get("body") or {}).get("stackFrames")
    if isinstance(frames, list):
        kept = []
        for frame in frames:
            path = (frame.get("source") or {}).get("path") or ""
            if path.startswith(PACKAGE_DIR + os.sep):
                break
            kept.append(frame)
        response["body"]["stackFrames"] = kept
        response["body"]["totalFrames"] = len(kept)
    return response


def hide_machinery(request, response):
    """A stopped frame's variables, without IPython's history names (debug_variables.py)."""
    variables = (response.get("body") or {}).get("variables")
    if isinstance(variables, list):
        response["body"]["variables"] = [v for v in variables if shown(v.get("name", ""))]
    return response


def dump_cell(request):
    code = request.get("arguments", {}).get("code")
    if not isinstance(code, str):
        return dap_response(request, False, message="dumpCell needs the cell's code")
    return dap_response(request, body={"sourcePath": cell_files.write_cell_file(code)})


def configuration_done(request):
    return dap_response(request)


def source(request):
    path = request.get("arguments", {}).get("source", {}).get("path")
    if not isinstance(path, str) or not os.path.isfile(path):
        return dap_response(request, False, message="source unavailable")
    with open(path, encoding="utf-8", errors="replace") as f:
        return dap_response(request, body={"content": f.read()})


def modules(request):
    modules = list(sys.modules.values())
    arguments = request.get("arguments", {})
    start = int(arguments.get("startModule") or 0)
    count = int(arguments.get("moduleCount") or len(modules))
    shown_modules = []
    for index, module in enumerate(modules[start:start + count], start):
        # __file__ first: the stdlib modules Python 3.11 freezes have "frozen" as origin
        path = getattr(module, "__file__", None) or getattr(getattr(module, "__spec__", None), "origin", None)
        if isinstance(path, str) and path.endswith(".py"):
            shown_modules.append({"id": index, "name": module.__name__, "path": path})
    return dap_response(request, body={"modules": shown_modules, "totalModules": len(modules)})

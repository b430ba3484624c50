"""Completion and is_complete without IPython: both run on every keypress or
Enter in a console, so they must stay cheap. Completion hands what it does not do
itself (magics, paths and dict keys in strings, imports, call results, unicode names,
or a name it finds nothing for) to IPython's completer, as ipykernel runs it."""

import ast
import builtins
import codeop
import io
import keyword
import re
import sys
import tokenize
import warnings

from .cells import strip_leading_indent

_NAME_AT_END = re.compile(r"[A-Za-z_][\w.]*$|$")
# A line IPython runs as a magic or shell escape, or assigns from one (`x = !ls`).
_MAGIC_LINE = re.compile(r"^\s*[%!]|^\s*[\w.,\s]+=\s*[%!]")
# Lines whose completion is IPython's business: magics, shell commands, imports.
_IPYTHON_LINE = re.compile(r"^\s*(%|!|from\s|import\s)")
# What right before a name makes it something other than a plain or dotted name: an
# attribute of a call's or an index's result, a string, a magic, a unicode name.
_IPYTHON_BEFORE = (".", ")", "]", "[", "'", '"', "%", "!", "\\", "/")


def complete(namespace, code, cursor_pos, fallback=None):
    """Completion's reply content. ``fallback(code, cursor_pos)`` is the fuller, slower
    completer (IPython's), for what this one does not handle; None leaves it to this one."""
    before = code[:cursor_pos]
    token = _NAME_AT_END.search(before).group(0)
    start = cursor_pos - len(token)
    line = before[before.rfind("\n") + 1:]
    if fallback is not None and _beyond_names(line, before[:start]):
        found = fallback(code, cursor_pos)
        if found is not None:
            return found
    if "." in token:
        base, _, prefix = token.rpartition(".")
        # private names only when asked for, as IPython's completer shows them
        matches = [base + "." + name for name in _attributes(namespace, base)
                   if name.startswith(prefix) and (prefix[:1] == "_" or name[:1] != "_")]
    else:
        names = set(namespace) | set(dir(builtins)) | set(keyword.kwlist)
        matches = [name for name in names if name.startswith(token)]
    if not matches and token and fallback is not None:
        found = fallback(code, cursor_pos)
        if found is not None:
            return found
    matches.sort(key=lambda name: (name.rsplit(".", 1)[-1].startswith("_"), name))
    return {"matches": matches, "cursor_start": start, "cursor_end": cursor_pos, "metadata": {}}


def _beyond_names(line, head):
    """Whether the name being completed sits where only IPython's completer helps."""
    if _IPYTHON_LINE.match(line) or head.endswith(_IPYTHON_BEFORE):
        return True
    # inside a string literal (a path, a dict key): an odd number of quotes before it
    return line.count("'") % 2 == 1 or line.count('"') % 2 == 1


def _attributes(namespace, dotted):
    # Only plain attribute lookups: completion must never run arbitrary code
    # beyond what getattr on existing objects does.
    parts = dotted.split(".")
    if not all(part.isidentifier() for part in parts):
        return []
    try:
        if parts[0] in namespace:
            obj = namespace[parts[0]]
        elif parts[0] in sys.modules:  # "import os\nos.pa<TAB>" before the import ran
            obj = sys.modules[parts[0]]
        else:
            obj = getattr(builtins, parts[0])
        for part in parts[1:]:
            obj = getattr(obj, part)
        return dir(obj)
    except Exception:
        return []


def _compiles(source):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<input>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        return True
    except (SyntaxError, OverflowError, ValueError):
        return False


def _compile_command(source):
    """codeop's verdict (None: more input could complete it), with top-level await allowed,
    as a cell allows it. A new compiler each time: codeop's keeps __future__ flags it saw."""
    command = codeop.CommandCompiler()
    command.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return command(source, "<input>", "exec")


def _as_python(line):
    """A line IPython transforms (a magic, a shell escape, `x = !cmd`, `obj?`) as a Python
    statement of the same indent."""
    if _MAGIC_LINE.match(line) or line.rstrip().endswith("?"):
        return line[: len(line) - len(line.lstrip())] + "pass"
    return line


def _last_statement_indented(source):
    """Whether the last logical line of ``source`` (which compiles) is indented: inside a
    block that another line could continue. A bracket's continuation lines do not count."""
    indented = False
    at_line_start = True
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            at_line_start = True
        elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER) and at_line_start:
            indented = token.start[1] > 0
            at_line_start = False
    return indented


def is_complete(code):
    """IPython's rules, as consoles expect: a block ends at a blank line."""
    code = strip_leading_indent(code)  # IPython's first transform: an indented cell runs
    lines = code.split("\n")
    ends_with_blank_line = len(lines) > 1 and not lines[-1].strip()
    if lines and lines[0].lstrip().startswith("%%"):
        # A cell magic's body ends at an empty line after it, as in IPython.
        if code.rstrip(" \t").endswith("\n\n"):
            return {"status": "complete"}
        return {"status": "incomplete", "indent": ""}
    if all(_MAGIC_LINE.match(line) or not line.strip() for line in lines):
        return {"status": "complete"}
    source = "\n".join(_as_python(line) for line in lines)
    try:
        compiled = _compile_command(source)
    except (SyntaxError, OverflowError, ValueError):
        return {"status": "invalid"}
    if compiled is None and ends_with_blank_line and _compiles(source):
        return {"status": "complete"}
    if compiled is not None and (ends_with_blank_line or not _last_statement_indented(source)):
        return {"status": "complete"}
    last = lines[-1]
    indent = last[: len(last) - len(last.lstrip())]
    if last.rstrip().endswith(":"):
        indent += "    "
    return {"status": "incomplete", "indent": indent}

"""Cell text as IPython reads it: its first transforms, and whether a cell is quiet."""

import io
import re
import tokenize

_LEADING_SPACE = (" ", "\t", "\r", "\n")


def strip_leading_indent(code, keep_line_numbers=False):
    """IPython's first two input transforms: leading blank lines go, and the first line's
    indent comes off every line that starts with it. `view.execute` of a triple-quoted block
    written inside a function is indented, and both IPython kernels run it.
    ``keep_line_numbers``: the blank lines become empty ones instead, so that the code's
    line numbers stay the cell's (tracebacks, a debugger's breakpoints)."""
    if code[:1] not in _LEADING_SPACE:  # most cells: nothing to do
        return code
    lines = code.splitlines(True)
    start = next((i for i, line in enumerate(lines) if line and not line.isspace()), 0)
    lines = lines[start:]
    if not lines:
        return code
    kept = "\n" * start if keep_line_numbers else ""
    first = lines[0]
    indent = first[:len(first) - len(first.lstrip(" \t"))]
    if not indent:
        return kept + "".join(lines)
    return kept + "".join(line[len(indent):] if line.startswith(indent) else line for line in lines)


_LINE_END = re.compile(r"\r\n|\r|\n")
_QUIET_SKIPPED = {tokenize.ENDMARKER, tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT}


def semicolon_follows(code, node):
    """Whether a `;` comes right after ``node`` (the cell's last expression, parsed from
    ``code``): IPython then shows no result. Comments after it do not matter."""
    if "\r" in code:  # ast counts \r\n and a lone \r as line ends too
        code = _LINE_END.sub("\n", code)
    # the last expression is near the end: cut its line from there, not the whole cell up
    lines_after = code.count("\n") + 1 - node.end_lineno
    line = code.rsplit("\n", lines_after + 1)[-lines_after - 1]
    rest = line.encode("utf-8")[node.end_col_offset:]  # ast's columns count UTF-8 bytes
    return rest.lstrip().startswith(b";")


def ends_with_semicolon(code):
    """IPython's test for a quiet cell (DisplayHook.quiet), for cells IPython runs: the last
    token that is not a comment or a line end is `;`."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return False
    for token in reversed(tokens):
        if token.type in _QUIET_SKIPPED:
            continue
        return token.type == tokenize.OP and token.string == ";"
    return False

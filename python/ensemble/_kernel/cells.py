"""Cell text as IPython transforms it before anything else."""

_LEADING_SPACE = (" ", "\t", "\r", "\n")


def strip_leading_indent(code):
    """IPython's first two input transforms: leading blank lines go, and the first line's
    indent comes off every line that starts with it. `view.execute` of a triple-quoted block
    written inside a function is indented, and both IPython kernels run it."""
    if code[:1] not in _LEADING_SPACE:  # most cells: nothing to do
        return code
    lines = code.splitlines(True)
    start = next((i for i, line in enumerate(lines) if line and not line.isspace()), 0)
    lines = lines[start:]
    if not lines:
        return code
    first = lines[0]
    indent = first[:len(first) - len(first.lstrip(" \t"))]
    if not indent:
        return "".join(lines)
    return "".join(line[len(indent):] if line.startswith(indent) else line for line in lines)

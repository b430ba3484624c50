"""inspect_request and ``obj?``: IPython's inspector, so the text matches."""

import re

_NAME = re.compile(r"[A-Za-z_][\w.]*")


def name_at(code, cursor_pos):
    """The dotted name under (or just before) the cursor."""
    for match in _NAME.finditer(code):
        if match.start() <= cursor_pos <= match.end():
            return match.group(0).rstrip(".")
    # Inside a call's parentheses, the callee: f(a, |
    depth = 0
    for index in range(min(cursor_pos, len(code)) - 1, -1, -1):
        char = code[index]
        if char == ")":
            depth += 1
        elif char == "(":
            if depth == 0:
                match = re.search(r"[A-Za-z_][\w.]*$", code[:index])
                return match.group(0) if match else ""
            depth -= 1
    return ""


def inspect_at(runtime, code, cursor_pos, detail_level):
    name = name_at(code, cursor_pos)
    not_found = {"found": False, "data": {}, "metadata": {}}
    if not name:
        return not_found
    shell = runtime.get_ipython()
    try:
        bundle = shell.object_inspect_mime(name, detail_level=detail_level)
    except KeyError:
        return not_found
    except Exception:
        return not_found
    if not shell.enable_html_pager:  # as ipykernel: IPython's HTML only when asked for
        bundle.pop("text/html", None)
    return {"found": True, "data": bundle, "metadata": {}}

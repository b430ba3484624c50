"""The lean display path and IPython's must give identical text/plain.

The kernel formats results without IPython when it can (docs/architecture.md);
whenever it does, the text must be exactly what IPython's formatter produces.
"""

import collections
import datetime
import decimal
import fractions
import pathlib
import re

import pytest
from IPython.lib.pretty import pretty

from ensemble._kernel.display import needs_ipython_formatter, plain_text


class WithRepr:
    def __repr__(self):
        return "WithRepr(1)"


class MultiLineRepr:
    def __repr__(self):
        return "first\nsecond"


class Plain:
    pass


class Html:
    def _repr_html_(self):
        return "<b>x</b>"


class ListSubclass(list):
    pass


SAMPLES = [
    0, -5, 2**100, 1.5, float("inf"), 3 + 4j, True, None, "text", "quote's", b"\x00bytes", range(3),
    [], [1, 2, 3], (1,), ("a", 1.0), {"b": 1, "a": 2}, {1, 2}, frozenset({3}), list(range(40)),
    {i: str(i) for i in range(30)}, [[1, 2], [3]], ["x" * 100], [WithRepr()], [Plain()],
    WithRepr(), MultiLineRepr(), Plain(), int, len, print, pretty, re.compile("a+"),
    collections.OrderedDict(a=1), collections.Counter("aab"), collections.deque([1]),
    datetime.date(2026, 1, 2), datetime.timedelta(seconds=5), decimal.Decimal("1.5"),
    fractions.Fraction(1, 3), pathlib.PurePosixPath("/tmp"), ValueError("bad"), ListSubclass([1]),
    slice(1, 2), Ellipsis, NotImplemented, object(), type("Dynamic", (), {})(),
]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_lean_text_plain_equals_ipython_pretty(obj):
    text = plain_text(obj)
    if text is None or needs_ipython_formatter(obj):
        return  # the kernel asks IPython itself for these
    assert text == pretty(obj)


def test_lean_path_handles_the_common_cases_itself():
    handled = [o for o in SAMPLES if plain_text(o) is not None and not needs_ipython_formatter(o)]
    # Scalars, short containers of scalars and classes with their own __repr__
    # must not pay for IPython.
    assert len(handled) >= 20


def test_rich_objects_go_to_ipython():
    assert needs_ipython_formatter(Html())


# Lean-path results first: the last two make the kernel load IPython.
EXPRESSIONS = ["[1, 2, 3]", "{'a': 1, 'b': [2]}", "'text'", "3.5", "(1, 'x', None)",
               "list(range(50))", "{i: i for i in range(30)}", "int", "print"]


def test_results_are_identical_before_and_after_ipython_loads(fresh_kernel):
    def shown(expr):
        res = fresh_kernel.execute(expr)
        assert res.status == "ok", res.content
        return [r["data"] for r in res.results]

    before = [shown(expr) for expr in EXPRESSIONS]
    assert fresh_kernel.execute("import IPython").status == "ok"
    after = [shown(expr) for expr in EXPRESSIONS]
    assert before == after

"""pandas objects through a cluster (ipyparallel's test_push_pull_timeseries, and more):
their numpy blocks travel as out-of-band buffers, and must come back whole, dtypes and
index included."""

import numpy as np
import pandas as pd
import pytest

import ensemble as ipp
from parallel_fixtures import rc, started  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]

ROWS = 100_000  # large enough that the numeric columns go out of band


def _frame():
    return pd.DataFrame({
        "n": np.arange(ROWS),
        "x": np.linspace(0.0, 1.0, ROWS),
        "when": pd.date_range("2026-01-01", periods=ROWS, freq="s", tz="UTC"),
        "kind": pd.Categorical(["a", "b", "c", "d"] * (ROWS // 4)),
        "text": ["row"] * ROWS,
    }, index=pd.RangeIndex(10, 10 + ROWS, name="i"))


def test_a_pushed_series_and_frame_come_back_equal_with_their_dtypes_and_index(rc):
    view = rc[:]
    frame, series = _frame(), pd.Series(list(range(10)))
    view.push({"frame": frame, "series": series}, block=True)
    for back in view.pull("series", block=True):
        assert type(back) is pd.Series and back.equals(series)
    for back in view.pull("frame", block=True):
        pd.testing.assert_frame_equal(back, frame)


def test_an_applied_function_gets_a_frame_and_returns_one(rc):
    frame = _frame()

    def describe(df):
        return df.groupby("kind", observed=True)["x"].sum().to_frame()

    expected = describe(frame)
    for got in rc[:].apply_sync(describe, frame):
        pd.testing.assert_frame_equal(got, expected)


def test_a_scattered_frame_is_split_by_rows_and_gathers_into_its_parts(rc):
    view = rc[:]
    frame = _frame()
    view.scatter("part", frame, block=True)
    lengths = view.apply_sync(len, ipp.Reference("part"))
    assert sum(lengths) == ROWS and len(set(lengths)) == 1
    parts = view.gather("part", block=True)  # a list of the frames, as ipyparallel gives
    pd.testing.assert_frame_equal(pd.concat(parts), frame)

"""CSV written by the CLI (groupstats.cli.table_files.write_csv) has the bytes of pandas' to_csv,
whatever the values; tables it cannot render exactly go to to_csv."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groupstats.cli.table_files import write_csv, write_table

AWKWARD_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.1, 2 / 3, 1e-4, 9.999999999999999e-05, 1e-5, 1.5e-7, 5e-324,
                  2.2250738585072014e-308, 1e15, 1e16, 9999999999999998.0, 1.2345678901234567e16, 1e22,
                  1.7976931348623157e308, np.inf, -np.inf, np.nan, 12.0, 100.0, 0.30000000000000004]


def _pandas_bytes(frame, tmp_path) -> bytes:
    path = tmp_path / "pandas.csv"
    frame.to_csv(path, index=False)
    return path.read_bytes()


def _ours(frame, tmp_path) -> tuple[bool, bytes]:
    path = tmp_path / "ours.csv"
    rendered = write_csv(frame, path)
    return rendered, path.read_bytes()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_same_bytes_as_pandas_on_random_and_awkward_values(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = 3000
    floats = np.concatenate([rng.random(n // 3), 10.0 ** rng.uniform(-12, 20, n // 3),
                             rng.normal(size=n - 2 * (n // 3)) * 10.0 ** rng.integers(-8, 18, n - 2 * (n // 3))])
    floats[rng.choice(n, len(AWKWARD_FLOATS), replace=False)] = AWKWARD_FLOATS
    rounded = np.round(rng.random(n) * 100, int(rng.integers(0, 4)))  # integral and short decimals
    words = np.array(["", "read_trend_8d", "读 率", "a=-2.0 (+0.005); b=5.0 (-0.1)", "x y", "'single'"], dtype=object)
    text = words[rng.integers(0, len(words), n)].astype(object)
    text[rng.random(n) < 0.2] = None
    frame = pd.DataFrame({
        "group_id": [f"g{i % 37:03d}" for i in range(n)],
        "member_id": pd.array([f"u{i:05d}" for i in range(n)], dtype="str"),
        "risk": floats,
        "rank": rng.integers(-10**12, 10**12, n),
        "driver": pd.array(text, dtype="str"),
        "text_object": text,
        "silent_days": rounded,
        "active_before": rng.random(n) < 0.5,
    })
    rendered, ours = _ours(frame, tmp_path)
    assert rendered  # rendered here, not by pandas
    assert ours == _pandas_bytes(frame, tmp_path)


@pytest.mark.parametrize("change", ["comma", "quote", "newline", "header comma", "category", "datetime",
                                    "nullable int", "mixed objects", "one column", "bool with missing"])
def test_what_cannot_be_rendered_exactly_goes_to_pandas(tmp_path, change):
    frame = pd.DataFrame({"a": ["x", "y", "z"], "b": [1.5, np.nan, 3.0], "c": [1, 2, 3]})
    if change == "comma":
        frame.loc[1, "a"] = "x, y"
    elif change == "quote":
        frame.loc[1, "a"] = 'say "hi"'
    elif change == "newline":
        frame.loc[1, "a"] = "two\nlines"
    elif change == "header comma":
        frame = frame.rename(columns={"a": "a,b"})
    elif change == "category":
        frame["a"] = frame["a"].astype("category")
    elif change == "datetime":
        frame["a"] = pd.to_datetime(["2026-01-01", "2026-01-02", None])
    elif change == "nullable int":
        frame["c"] = pd.array([1, None, 3], dtype="Int64")
    elif change == "mixed objects":
        frame["a"] = pd.Series(["x", 2, None], dtype=object)
    elif change == "one column":
        frame = frame[["a"]].assign(a=["", "y", ""])
    elif change == "bool with missing":
        frame["c"] = pd.Series([True, None, False], dtype=object)
    rendered, ours = _ours(frame, tmp_path)
    assert not rendered
    assert ours == _pandas_bytes(frame, tmp_path)


def test_empty_and_all_missing_tables(tmp_path):
    empty = pd.DataFrame({"a": pd.Series([], dtype="str"), "b": pd.Series([], dtype=float)})
    assert _ours(empty, tmp_path)[1] == _pandas_bytes(empty, tmp_path)
    missing = pd.DataFrame({"a": pd.array([None, None], dtype="str"), "b": [np.nan, np.nan]})
    assert _ours(missing, tmp_path)[1] == _pandas_bytes(missing, tmp_path)


def test_write_table_by_suffix_without_index_or_attrs(tmp_path):
    frame = pd.DataFrame({"g": ["a", "b"], "x": [0.5, 1e-5]}, index=[7, 9])
    frame.attrs["cutoff"] = "2026-01-01"
    write_table(frame, tmp_path / "sub" / "t.csv")
    assert (tmp_path / "sub" / "t.csv").read_text() == "g,x\na,0.5\nb,1e-05\n"
    write_table(frame, tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back.equals(frame.reset_index(drop=True).astype({"g": back["g"].dtype})) and not back.attrs

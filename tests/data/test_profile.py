"""Dataset profiles: statistics agree with numpy/pandas on real data; edge cases; HTML report."""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.data import make_loans
from shipyard.data._profile import EXACT_ROWS, QUANTILES, ColumnProfile, Profile, profile
from shipyard.data._report import profile_html
from shipyard.errors import InvalidInput, NotFound

NUMERIC = [
    "application_id",
    "age",
    "income",
    "employment_years",
    "term_months",
    "loan_amount",
    "debt_to_income",
    "open_accounts",
    "late_payments",
    "credit_score",
    "default",
]
CATEGORICAL = ["gender", "education", "home_ownership", "purpose", "region"]


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(5_000, seed=1)


@pytest.fixture(scope="module")
def loans_profile(loans: pd.DataFrame) -> Profile:
    return profile(loans)


def _without_types(p: Profile) -> dict:
    d = p.to_dict()
    for column in d["columns"]:
        column.pop("type")
    return d


# -- agreement with numpy / pandas on the bundled loan data ---------------------------------


def test_shape_kinds_and_types(loans: pd.DataFrame, loans_profile: Profile) -> None:
    assert loans_profile.rows == len(loans)
    assert [c.name for c in loans_profile.columns] == list(loans.columns)
    kinds = {c.name: c.kind for c in loans_profile.columns}
    assert {kinds[n] for n in NUMERIC} == {"numeric"}
    assert {kinds[n] for n in CATEGORICAL} == {"categorical"}
    assert kinds["applied_at"] == "datetime"
    assert loans_profile.column("gender").type.startswith("dictionary<")
    assert loans_profile.column("income").type == "double"
    assert loans_profile.column("age").type == "int64"
    assert not any(c.approximate for c in loans_profile.columns)  # below EXACT_ROWS


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_stats_agree_with_pandas(
    loans: pd.DataFrame, loans_profile: Profile, name: str
) -> None:
    s = loans[name].astype(float)
    c = loans_profile.column(name)
    assert c.count == s.notna().sum()
    assert c.missing == s.isna().sum()
    assert c.count + c.missing == len(loans)
    assert c.distinct == s.nunique()
    assert c.min == s.min() and c.max == s.max()
    assert c.mean == pytest.approx(s.mean(), rel=1e-12)
    assert c.std == pytest.approx(s.std(ddof=1), rel=1e-9)
    assert list(c.quantiles) == [f"{q:g}" for q in QUANTILES]
    for q in QUANTILES:
        assert c.quantiles[f"{q:g}"] == pytest.approx(s.quantile(q), rel=1e-12, abs=1e-12)
    assert c.top == []


@pytest.mark.parametrize("name", NUMERIC)
def test_histogram_matches_numpy_on_the_same_edges(
    loans: pd.DataFrame, loans_profile: Profile, name: str
) -> None:
    values = loans[name].dropna().to_numpy(dtype=float)
    hist = loans_profile.column(name).histogram
    assert hist is not None
    assert len(hist["counts"]) == 20 and len(hist["edges"]) == 21
    assert hist["edges"][0] == values.min() and hist["edges"][-1] == values.max()
    assert sum(hist["counts"]) == len(values) == loans_profile.column(name).count
    expected, _ = np.histogram(values, bins=np.array(hist["edges"]))
    assert hist["counts"] == expected.tolist()  # exact, values on edges included


@pytest.mark.parametrize("name", CATEGORICAL)
def test_top_values_match_value_counts(
    loans: pd.DataFrame, loans_profile: Profile, name: str
) -> None:
    c = loans_profile.column(name)
    counts = loans[name].value_counts()
    expected = sorted(((str(k), int(v)) for k, v in counts.items() if v), key=lambda t: -t[1])
    assert c.top == expected[:20]
    assert c.distinct == loans[name].nunique()
    assert c.count == loans[name].notna().sum()
    assert (c.min, c.mean, c.histogram, c.quantiles) == (None, None, None, {})


def test_top_k_keeps_the_most_frequent_with_ties_by_value() -> None:
    values = ["b"] * 3 + ["a"] * 3 + ["c"] * 2 + ["d"]
    c = profile(pa.table({"x": values}), top_k=3).column("x")
    assert c.top == [("a", 3), ("b", 3), ("c", 2)]
    assert c.distinct == 4


def test_datetimes_report_iso_strings(loans: pd.DataFrame, loans_profile: Profile) -> None:
    c = loans_profile.column("applied_at")
    assert c.min == loans["applied_at"].min().isoformat()
    assert c.max == loans["applied_at"].max().isoformat()
    assert c.distinct == loans["applied_at"].nunique()
    assert (c.mean, c.histogram, c.top) == (None, None, [])


def test_bins_and_top_k_are_configurable(loans: pd.DataFrame) -> None:
    p = profile(loans, bins=7, top_k=2)
    assert len(p.column("income").histogram["counts"]) == 7
    assert len(p.column("purpose").top) == 2


# -- inputs ---------------------------------------------------------------------------------


def test_parquet_file_gives_the_same_profile_as_the_table(
    loans: pd.DataFrame, tmp_path: Path
) -> None:
    table = pa.Table.from_pandas(loans, preserve_index=False)
    path = tmp_path / "loans.parquet"
    pq.write_table(table, path)
    from_path = profile(path)
    # Parquet stores dictionary indices as int32 and seconds as milliseconds: types differ.
    assert _without_types(from_path) == _without_types(profile(table))
    assert from_path == profile(pq.read_table(path))
    assert profile(str(path)) == from_path


def test_parquet_with_nan_and_inf_gives_the_same_profile(tmp_path: Path) -> None:
    # pyarrow leaves NaN out of Parquet min/max statistics; the profile must still see them.
    values = [1.0, float("nan"), 2.0, float("inf"), None, float("nan"), -3.0]
    table = pa.table({"x": pa.array(values), "h": pa.array(np.array(values, np.float16))})
    pq.write_table(table, tmp_path / "nan.parquet")
    got = profile(tmp_path / "nan.parquet")
    assert got == profile(table)
    assert (got.column("x").missing, got.column("x").infinite) == (3, 1)
    assert (got.column("h").missing, got.column("h").count) == (3, 4)


def test_parquet_folder_is_profiled_as_one_table(loans: pd.DataFrame, tmp_path: Path) -> None:
    table = pa.Table.from_pandas(loans, preserve_index=False)
    folder = tmp_path / "loans"
    folder.mkdir()
    pq.write_table(table.slice(0, 2_000), folder / "part-0.parquet")
    pq.write_table(table.slice(2_000), folder / "part-1.parquet")
    got = profile(folder)
    want = profile(table)
    assert got.rows == want.rows
    for g, w in zip(got.columns, want.columns, strict=True):
        assert (g.count, g.missing, g.distinct, g.top) == (w.count, w.missing, w.distinct, w.top)
        assert g.min == w.min and g.max == w.max
        assert g.mean == pytest.approx(w.mean) if w.mean is not None else g.mean is None
        assert g.histogram == w.histogram


def test_hive_partitions_become_columns(tmp_path: Path) -> None:
    for year, xs in ((2024, [1.0, 2.0]), (2025, [3.0])):
        (tmp_path / f"year={year}").mkdir()
        pq.write_table(pa.table({"x": xs}), tmp_path / f"year={year}" / "part.parquet")
    p = profile(tmp_path)
    assert p.rows == 3 and [c.name for c in p.columns] == ["x", "year"]
    assert (p.column("year").type, p.column("year").min, p.column("year").distinct) == (
        "int32",
        2024.0,
        2,
    )
    assert p.column("x").mean == 2.0


def test_pandas_arrow_and_record_batch_agree(loans: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(loans, preserve_index=False)
    assert profile(loans) == profile(table)
    assert profile(table.combine_chunks().to_batches()[0]) == profile(table)


@pytest.mark.parametrize("bad", [[1, 2, 3], {"x": [1]}, 42, None, np.arange(3)])
def test_bad_input_type_names_what_was_expected(bad: object) -> None:
    with pytest.raises(InvalidInput, match=r"pyarrow\.Table, a pandas DataFrame or the path"):
        profile(bad)


def test_missing_path_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"nope\.parquet"):
        profile(tmp_path / "nope.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(InvalidInput, match=r"junk\.parquet"):
        profile(junk)


@pytest.mark.parametrize(("kwargs", "field"), [({"bins": 0}, "bins"), ({"top_k": -1}, "top_k")])
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        profile(pa.table({"x": [1]}), **kwargs)


def test_duplicate_column_names_are_rejected() -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(InvalidInput, match="duplicate column names"):
        profile(table)


# -- edge cases -----------------------------------------------------------------------------


def test_empty_table_gives_none_stats(tmp_path: Path) -> None:
    table = pa.table(
        {
            "x": pa.array([], pa.float64()),
            "n": pa.array([], pa.int32()),
            "s": pa.array([], pa.string()),
            "b": pa.array([], pa.bool_()),
            "t": pa.array([], pa.timestamp("us")),
        }
    )
    p = profile(table)
    assert p.rows == 0
    for c in p.columns:
        assert (c.count, c.missing, c.distinct) == (0, 0, 0)
        assert (c.min, c.max, c.mean, c.std, c.histogram) == (None,) * 5
        assert (c.quantiles, c.top) == ({}, [])
    assert profile(pd.DataFrame()) == Profile(rows=0, columns=[])
    pq.write_table(table, tmp_path / "empty.parquet")
    assert _without_types(profile(tmp_path / "empty.parquet")) == _without_types(p)
    assert profile_html(p, title="empty").count("<section") == 5


def test_all_null_columns_have_counts_but_no_stats() -> None:
    n = 10
    table = pa.table(
        {
            "nan": pa.array([float("nan")] * n),
            "null_float": pa.nulls(n, pa.float64()),
            "null": pa.nulls(n),
            "s": pa.nulls(n, pa.string()),
        }
    )
    p = profile(table)
    for c in p.columns:
        assert (c.count, c.missing, c.distinct) == (0, n, 0)
        assert (c.min, c.max, c.mean, c.std, c.histogram, c.top) == (None,) * 5 + ([],)
    assert p.column("nan").kind == "numeric"
    assert p.column("null").kind == "other"


def test_constant_column_has_one_bin() -> None:
    c = profile(pa.table({"x": [3.5] * 7 + [None]})).column("x")
    assert c.histogram == {"edges": [3.5, 3.5], "counts": [7]}
    assert (c.min, c.max, c.mean, c.std, c.distinct) == (3.5, 3.5, 3.5, 0.0, 1)
    one = profile(pa.table({"x": [1]})).column("x")
    assert one.std is None and one.histogram == {"edges": [1.0, 1.0], "counts": [1]}


def test_nan_is_missing_and_infinities_are_counted_apart() -> None:
    values = [1.0, float("nan"), float("inf"), -float("inf"), 2.0, None, 3.0]
    c = profile(pa.table({"x": pa.array(values, pa.float64())}), bins=2).column("x")
    assert (c.count, c.missing, c.infinite, c.distinct) == (5, 2, 2, 5)
    assert (c.min, c.max, c.mean) == (1.0, 3.0, 2.0)
    assert c.std == pytest.approx(1.0)
    assert c.quantiles["0.5"] == 2.0
    # -inf joins the first bin and +inf the last: the counts still add up to `count`.
    assert c.histogram == {"edges": [1.0, 2.0, 3.0], "counts": [2, 3]}
    json.dumps(Profile(rows=7, columns=[c]).to_dict(), allow_nan=False)  # strict JSON


def test_only_infinite_values() -> None:
    c = profile(pa.table({"x": [float("inf"), -float("inf")]})).column("x")
    assert (c.count, c.infinite, c.min, c.mean, c.histogram) == (2, 2, None, None, None)


def test_dictionary_and_boolean_columns() -> None:
    table = pa.table(
        {
            "d": pa.array(["a", "b", "a", None, "a"]).dictionary_encode(),
            "di": pa.array([10, 20, 10, 10, None]).dictionary_encode(),
            "b": pa.array([True, False, True, None, True]),
        }
    )
    p = profile(table)
    d, di, b = p.column("d"), p.column("di"), p.column("b")
    assert d.kind == di.kind == "categorical" and b.kind == "boolean"
    assert d.type == "dictionary<values=string, indices=int32, ordered=0>"
    assert d.top == [("a", 3), ("b", 1)] and (d.count, d.missing, d.distinct) == (4, 1, 2)
    assert di.top == [("10", 3), ("20", 1)]
    assert b.top == [("true", 3), ("false", 1)] and (b.missing, b.distinct) == (1, 2)
    assert b.histogram is None and b.mean is None


def test_pandas_categories_keep_unused_categories_out() -> None:
    s = pd.Categorical(["x", "y", "x"], categories=["x", "y", "z"])
    c = profile(pd.DataFrame({"c": s})).column("c")
    assert c.top == [("x", 2), ("y", 1)] and c.distinct == 2


def test_timestamps_dates_and_time_zones() -> None:
    table = pa.table(
        {
            "ns": pa.array(
                [1_700_000_000_000_000_123, None, 1_600_000_000_000_000_000], "timestamp[ns]"
            ),
            "tz": pa.array([0, 3_600, None], pa.timestamp("s", tz="Europe/Paris")),
            "day": pa.array([19_000, None, 19_002], pa.date32()),
        }
    )
    p = profile(table)
    assert {c.kind for c in p.columns} == {"datetime"}
    ns = p.column("ns")
    assert ns.type == "timestamp[ns]" and (ns.count, ns.missing) == (2, 1)
    assert ns.min == "2020-09-13T12:26:40"
    assert ns.max.startswith("2023-11-14T22:13:20")
    tz = p.column("tz")
    assert (tz.min, tz.max) == ("1970-01-01T00:00:00+00:00", "1970-01-01T01:00:00+00:00")
    assert datetime.fromisoformat(tz.min) == datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert (p.column("day").min, p.column("day").max) == ("2022-01-08", "2022-01-10")


def test_other_types_get_counts() -> None:
    table = pa.table({"l": pa.array([[1, 2], None, [1, 2]]), "bin": pa.array([b"x", b"y", None])})
    p = profile(table)
    assert p.column("l").kind == p.column("bin").kind == "other"
    assert (p.column("l").count, p.column("l").missing, p.column("l").distinct) == (2, 1, 1)
    assert (p.column("bin").count, p.column("bin").distinct) == (2, 2)


def test_types_duckdb_cannot_scan_are_widened(tmp_path: Path) -> None:
    halves = pa.array(np.array([1.5, np.nan, 2.5], dtype=np.float16))
    table = pa.table({"h": halves, "d": pa.array([1, 2, None], pa.decimal256(50, 2))})
    p = profile(table)
    h = p.column("h")
    assert (h.type, h.kind, h.count, h.missing, h.mean) == ("halffloat", "numeric", 2, 1, 2.0)
    assert (p.column("d").kind, p.column("d").mean) == ("numeric", 1.5)
    pq.write_table(table.select(["h"]), tmp_path / "h.parquet")
    assert profile(tmp_path / "h.parquet").column("h") == h


def test_quoted_and_odd_column_names() -> None:
    names = ['a "quoted" name', "it's", "<script>", "n", "sy_n", "c0_n", "profiled"]
    table = pa.table({name: [1, 2, 2] for name in names})
    p = profile(table)
    assert [c.name for c in p.columns] == names
    assert all(c.count == 3 and c.mean == pytest.approx(5 / 3) for c in p.columns)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.floats(allow_nan=True, allow_infinity=True, width=64),
            st.sampled_from([0.0, 1.0, -1.0]),
        ),
        max_size=40,
    ),
    st.integers(min_value=1, max_value=8),
)
def test_invariants_hold_for_any_floats(values: list[float | None], bins: int) -> None:
    c = profile(pa.table({"x": pa.array(values, pa.float64())}), bins=bins).column("x")
    present = [v for v in values if v is not None and not math.isnan(v)]
    finite = [v for v in present if math.isfinite(v)]
    assert (c.count, c.missing, c.infinite) == (
        len(present),
        len(values) - len(present),
        len(present) - len(finite),
    )
    if finite:
        assert (c.min, c.max) == (min(finite), max(finite))
        assert c.histogram is not None and sum(c.histogram["counts"]) == c.count
        edges = c.histogram["edges"]
        assert edges[0] == c.min and edges[-1] == c.max
        assert all(b > a for a, b in itertools.pairwise(edges)) or len(edges) == 2
    else:
        assert c.min is None and c.histogram is None
    p = Profile(rows=len(values), columns=[c])
    assert Profile.from_dict(json.loads(json.dumps(p.to_dict(), allow_nan=False))) == p


# -- large tables: estimates, determinism, memory -------------------------------------------


def test_above_the_threshold_estimates_are_close_and_reproducible() -> None:
    rng = np.random.default_rng(0)
    n = EXACT_ROWS + 50_000
    x = rng.lognormal(3, 1, n)
    cats = np.array([f"v{i}" for i in range(5_000)])[rng.integers(0, 5_000, n)]
    table = pa.table({"x": x, "c": cats})
    first, second = profile(table), profile(table)
    assert first == second  # same data, same numbers, threads or not
    c = first.column("x")
    assert c.approximate and first.column("c").approximate
    assert c.mean == pytest.approx(x.mean(), rel=1e-9)
    for q in QUANTILES:
        assert c.quantiles[f"{q:g}"] == pytest.approx(np.quantile(x, q), rel=0.02)
    assert c.distinct == pytest.approx(n, rel=0.1)  # HyperLogLog
    assert first.column("c").distinct == pytest.approx(len(set(cats)), rel=0.1)
    values, counts = np.unique(cats, return_counts=True)
    assert first.column("c").top[0] == (str(values[counts.argmax()]), int(counts.max()))


@pytest.mark.slow
def test_profiling_a_million_rows_stays_within_twice_the_table() -> None:
    """Peak memory while profiling (measured in a fresh process) stays under the table's size."""
    script = textwrap.dedent(
        """
        import re, sys
        import numpy as np, pyarrow as pa
        from shipyard.data._profile import profile
        def peak_kib():
            return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1])
        rng = np.random.default_rng(0)
        n = 1_000_000
        cols = {f"x{i}": rng.normal(size=n) for i in range(10)}
        cols["k"] = np.array([f"k{i}" for i in range(50)])[rng.integers(0, 50, n)]
        table = pa.table(cols)
        del cols
        profile(table.slice(0, 1000))  # imports and first-call costs outside the measure
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak to the current resident size
        before = peak_kib()
        profile(table)
        print(table.nbytes, (peak_kib() - before) * 1024)
        """
    )
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip(reason="needs Linux /proc to reset the peak resident size")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    nbytes, extra = map(int, out.stdout.split())
    assert extra < nbytes, f"profiling used {extra / 1e6:.0f} MB over a {nbytes / 1e6:.0f} MB table"


# -- the profile object ---------------------------------------------------------------------


def test_json_round_trip_is_exact(loans_profile: Profile) -> None:
    text = json.dumps(loans_profile.to_dict(), allow_nan=False)
    again = Profile.from_dict(json.loads(text))
    assert again == loans_profile
    assert isinstance(again.column("purpose").top[0], tuple)


def test_from_dict_rejects_what_it_cannot_read() -> None:
    with pytest.raises(InvalidInput, match="format"):
        Profile.from_dict({"rows": 1, "columns": []})
    with pytest.raises(InvalidInput, match="Malformed"):
        Profile.from_dict({"format": 1, "rows": 1, "columns": [{"name": "x"}]})


def test_unknown_column_lists_the_known_ones(loans_profile: Profile) -> None:
    with pytest.raises(NotFound, match=r"'nope'.*'income'"):
        loans_profile.column("nope")


def test_to_frame_has_one_row_per_column(loans_profile: Profile) -> None:
    frame = loans_profile.to_frame()
    assert list(frame.index) == [c.name for c in loans_profile.columns]
    assert frame.loc["income", "mean"] == loans_profile.column("income").mean
    assert frame.loc["income", "q0.5"] == loans_profile.column("income").quantiles["0.5"]
    assert frame.loc["purpose", "top"] == "debt_consolidation"
    assert {"type", "kind", "count", "missing", "distinct", "min", "max", "std"} <= set(frame)
    assert Profile(rows=0, columns=[]).to_frame().empty


def test_column_profile_is_immutable(loans_profile: Profile) -> None:
    with pytest.raises(AttributeError):
        loans_profile.column("age").count = 3  # type: ignore[misc]
    assert isinstance(loans_profile.columns[0], ColumnProfile)


# -- HTML report ----------------------------------------------------------------------------


def test_html_is_a_standalone_page_with_every_column(
    loans: pd.DataFrame, loans_profile: Profile
) -> None:
    page = profile_html(loans_profile, title="Loans & co")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<title>Loans &amp; co</title>" in page
    for name in loans.columns:
        assert f">{name}<" in page
    assert page.count("<svg") == len(NUMERIC) + len(CATEGORICAL)  # one chart per column
    assert "<script" not in page.lower() and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_html_escapes_names_and_values() -> None:
    table = pa.table({"<script>": [1.0, 2.0], "c": ['<img src=x onerror="alert(1)">', "&amp;"]})
    page = profile_html(profile(table), title="<b>t</b>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "&amp;amp;" in page and "<b>t</b>" not in page


def test_html_contains_the_profile_not_the_rows() -> None:
    def page(n: int) -> str:
        rng = np.random.default_rng(n)
        table = pa.table(
            {
                "secret": [f"row-{i:06d}" for i in range(n)],
                "x": rng.normal(size=n),
                "k": rng.choice(["a", "b", "c"], n),
            }
        )
        return profile_html(profile(table, top_k=5), title="t")

    small, large = page(1_000), page(30_000)
    assert "row-000004" in large and "row-000005" not in large  # top 5 of unique values only
    assert "row-012345" not in large
    assert len(large) < 1.2 * len(small)  # size follows the profile, not the row count


@pytest.mark.parametrize(
    ("arrow", "plain"),
    [
        (pa.dictionary(pa.int8(), pa.large_string()), "category"),
        (pa.dictionary(pa.int32(), pa.string()), "category"),
        (pa.string(), "string"),
        (pa.large_string(), "string"),
        (pa.int64(), "int64"),
        (pa.uint8(), "uint8"),
        (pa.float64(), "float64"),
        (pa.float32(), "float32"),
        (pa.bool_(), "bool"),
        (pa.timestamp("ns"), "datetime"),
        (pa.timestamp("us", tz="UTC"), "datetime UTC"),
        (pa.date32(), "date"),
        (pa.time64("us"), "time"),
        (pa.duration("s"), "duration"),
        (pa.decimal128(10, 2), "decimal(10, 2)"),
        (pa.list_(pa.int64()), "list"),
        (pa.binary(), "binary"),
    ],
)
def test_types_are_named_in_plain_words(arrow: pa.DataType, plain: str) -> None:
    column = profile(pa.table({"x": pa.array([None], arrow)})).column("x")
    assert column.type == str(arrow) and column.type_name == plain


def test_the_page_names_types_in_plain_words(loans_profile: Profile) -> None:
    page = profile_html(loans_profile, title="loans")
    assert "dictionary" not in re.sub(r'title="[^"]*"', "", page)  # only in tooltips
    assert '<code title="double">float64</code>' in page

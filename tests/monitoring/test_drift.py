"""Data drift: statistics against SciPy's, verdicts, false alarms, and odd windows."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

import shipyard as sy
from shipyard import monitoring
from shipyard.data import make_loans
from shipyard.errors import InvalidInput
from shipyard.monitoring._drift import _prepare
from shipyard.monitoring._inputs import bin_counts, categorical_distribution, decile_edges
from shipyard.monitoring._statistics import categorical_stats, numeric_stats


def _numeric(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    r, c = np.sort(a), np.sort(b)
    return numeric_stats(r, c, decile_edges(r), float(np.std(r)))


@pytest.mark.parametrize(
    ("n", "m", "decimals"),
    [(2000, 1500, None), (300, 4000, 1), (60, 45, 0), (20_000, 20_000, 2)],
)
def test_numeric_statistics_agree_with_scipy(n: int, m: int, decimals: int | None) -> None:
    rng = np.random.default_rng(n)
    a, b = rng.normal(0, 1, n), rng.normal(0.08, 1.05, m)
    if decimals is not None:  # ties inside and across the samples
        a, b = np.round(a, decimals), np.round(b, decimals)
    got = _numeric(a, b)
    want = ks_2samp(a, b, method="asymp")
    assert got["ks"] == pytest.approx(want.statistic, abs=1e-12)
    if want.pvalue > 1e-8:  # where the digits matter, SciPy's own formula
        assert got["ks_p_value"] == pytest.approx(want.pvalue, rel=1e-9)
    else:  # astronomically small: the limiting distribution, also below 1e-8
        assert got["ks_p_value"] < 1e-8
    assert got["wasserstein"] == pytest.approx(wasserstein_distance(a, b), rel=1e-9)
    # PSI and Jensen–Shannon on the reference's decile bins, counted the plain way
    edges = decile_edges(np.sort(a))
    bins = np.concatenate([[-np.inf], edges, [np.inf]])
    counts_a, counts_b = np.histogram(a, bins)[0], np.histogram(b, bins)[0]
    assert np.array_equal(counts_a, bin_counts(np.sort(a), edges))
    p = np.maximum(counts_a / n, 1e-4)
    q = np.maximum(counts_b / m, 1e-4)
    p, q = p / p.sum(), q / q.sum()
    assert got["psi"] == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-9)
    assert got["jensenshannon"] == pytest.approx(float(jensenshannon(p, q)), rel=1e-9)


def _column_kinds(n: int, rng: np.random.Generator, shift: float = 0.0) -> pa.Table:
    """Every numeric layout the preparation handles its own way."""
    floats = rng.normal(shift, 1, n)
    floats[rng.uniform(size=n) < 0.03] = np.nan
    floats[:3] = [np.inf, -np.inf, np.inf]
    small = rng.integers(-128, 128, n).astype(np.int8)  # counted: its range spans the dtype
    missing = rng.uniform(size=n) < 0.05
    return pa.table(
        {
            "floats": floats,
            "counts": rng.poisson(3 + shift, n),  # counted, not sorted
            "small": small,
            "nullable": pa.array(rng.integers(0, 50, n), mask=missing),
            "wide": rng.integers(-(10**12), 10**12, n),  # range wider than the count: sorted
            "huge": rng.integers(2**63, 2**63 + 500, n, dtype=np.uint64),
            "chunked": pa.chunked_array(
                [rng.integers(0, 9, n // 2), rng.integers(2, 11, n - n // 2)]
            ),
            "seconds": np.datetime64("2024-01-01") + rng.integers(0, 10**6, n).astype("m8[s]"),
        }
    )


def _finite(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ns")).cast(pa.int64())
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return values[np.isfinite(values)]


def test_prepared_columns_are_the_finite_values_in_order_and_the_input_is_untouched() -> None:
    table = _column_kinds(5000, np.random.default_rng(10))
    before = {
        name: table.column(name).to_numpy(zero_copy_only=False).copy()
        for name in table.column_names
    }
    for workers in (1, 2):
        prepared = _prepare(table, set(), workers)
        for name in table.column_names:
            want = np.sort(_finite(table.column(name)))
            got = prepared[name].sorted
            assert got is not None and got.dtype == np.float64
            assert np.array_equal(got, want), name
            assert prepared[name].missing == pytest.approx(1 - len(want) / 5000)
    for name in table.column_names:  # sorted copies, never the caller's buffers
        assert np.array_equal(
            table.column(name).to_numpy(zero_copy_only=False), before[name], equal_nan=True
        )


def test_report_statistics_agree_with_scipy_for_every_column_layout() -> None:
    rng = np.random.default_rng(12)
    ref, cur = _column_kinds(4000, rng), _column_kinds(3000, rng, shift=0.3)
    frame = monitoring.drift(ref, cur, workers=1).to_frame().set_index("feature")
    for workers in (0, 3):
        threaded = monitoring.drift(ref, cur, workers=workers).to_frame().set_index("feature")
        pd.testing.assert_frame_equal(frame, threaded)
    for name in ref.column_names:
        a, b = _finite(ref.column(name)), _finite(cur.column(name))
        want = ks_2samp(a, b, method="asymp")
        assert frame.loc[name, "ks"] == pytest.approx(want.statistic, rel=1e-12), name
        if want.pvalue > 1e-8:
            assert frame.loc[name, "ks_p_value"] == pytest.approx(want.pvalue, rel=1e-9), name
        assert frame.loc[name, "wasserstein"] == pytest.approx(
            wasserstein_distance(a, b), rel=1e-12
        ), name
        assert frame.loc[name, "current_missing"] == pytest.approx(1 - len(b) / 3000)


def test_a_dataframe_given_is_not_reordered() -> None:
    rng = np.random.default_rng(13)
    ref, cur = _frame(3000, rng), _frame(3000, rng, shift=0.5)
    saved = ref.copy(), cur.copy()
    monitoring.drift(ref, cur)
    pd.testing.assert_frame_equal(ref, saved[0])
    pd.testing.assert_frame_equal(cur, saved[1])


def test_categorical_statistics_agree_with_scipy() -> None:
    ref = {"a": 500, "b": 300, "c": 200}
    cur = {"a": 350, "b": 300, "c": 250, "d": 100}
    got = categorical_stats(ref, cur)
    table = np.array([[500, 300, 200, 0], [350, 300, 250, 100]])
    chi2, p_value, _, _ = chi2_contingency(table, correction=False)
    assert got["chisquare"] == pytest.approx(chi2) and got["chisquare_p_value"] == pytest.approx(
        p_value
    )
    p = np.maximum(table[0] / 1000, 1e-4)
    q = np.maximum(table[1] / 1000, 1e-4)
    p, q = p / p.sum(), q / q.sum()
    assert got["jensenshannon"] == pytest.approx(float(jensenshannon(p, q)))
    assert got["new_categories"] == 1 and got["categories"] == 4


@pytest.mark.parametrize("kind", ["strings", "integers"])
def test_categories_counted_in_arrow_give_the_statistics_of_the_counts(kind: str) -> None:
    rng = np.random.default_rng(14)
    labels = np.array([f"é{k}" if k % 3 else f"Z{k}" for k in range(400)])  # not ASCII order

    def window(n: int, card: int, skew: float) -> pa.Table:
        shares = 1 / np.arange(1, card + 1) ** skew
        drawn = rng.choice(card, n, p=shares / shares.sum())
        values = labels[drawn] if kind == "strings" else drawn * 7 - 500
        return pa.table({"x": pa.array(values, mask=rng.uniform(size=n) < 0.02)})

    # 390 categories in the reference, 400 in the window: new ones and rare ones
    ref, cur = window(30_000, 390, 1.0), window(20_000, 400, 0.8)
    got = monitoring.drift(ref, cur, categorical=["x"]).features[0]
    counts = [_prepare(t, {"x"}, 1)["x"].counts for t in (ref, cur)]
    assert got.stats == categorical_stats(*counts)  # the same digits
    assert got.distribution == categorical_distribution(*counts)
    assert got.stats["new_categories"] == len(set(counts[1]) - set(counts[0])) > 0


def _frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.lognormal(10 + shift, 0.5, n),
            "age": rng.integers(18, 80, n),
            "score": rng.normal(600 + 40 * shift, 50, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "channel": rng.choice(["web", "branch"], n, p=[0.7 - shift / 2, 0.3 + shift / 2]),
        }
    )


def test_shifted_features_drift_and_the_dataset_verdict_follows() -> None:
    rng = np.random.default_rng(0)
    report = monitoring.drift(_frame(20_000, rng), _frame(20_000, rng, shift=0.5))
    assert set(report.drifted_features) == {"income", "score", "channel"}
    assert report.share == pytest.approx(3 / 5) and report.drifted
    frame = report.to_frame().set_index("feature")
    assert frame.loc["income", "method"] == "wasserstein"  # large windows: effect sizes
    assert frame.loc["channel", "method"] == "jensenshannon"
    # an effect size that reached its threshold, and its p-value under no drift beside it
    assert frame.loc["income", "p_value"] < 0.001 and frame.loc["age", "rule"].endswith("< 0.1")
    assert frame.loc["income", "rule"] == (
        "normalised Wasserstein 1.22 ≥ 0.1 and beyond sampling noise (KS p<1e-300)"
    )
    assert {"statistic", "threshold", "drifted", "ks", "psi"} <= set(frame.columns)
    weighted = monitoring.drift(
        _frame(20_000, rng), _frame(20_000, rng, shift=0.5),
        importance={"income": 0.05, "score": 0.05, "channel": 0.0, "age": 0.5, "region": 0.4},
    )  # fmt: skip
    assert weighted.share == pytest.approx(0.1) and not weighted.drifted


def test_small_windows_are_judged_by_p_values() -> None:
    rng = np.random.default_rng(1)
    report = monitoring.drift(_frame(400, rng), _frame(300, rng, shift=1.0))
    frame = report.to_frame().set_index("feature")
    assert frame.loc["score", "method"] == "ks" and frame.loc["score", "p_value"] < 0.05
    assert frame.loc["region", "method"] == "chisquare"
    assert frame.loc["score", "drifted"]


def test_large_samples_of_one_distribution_raise_no_false_alarms() -> None:
    rng = np.random.default_rng(2)
    alarms = 0
    for _ in range(10):
        report = monitoring.drift(_frame(100_000, rng), _frame(100_000, rng))
        alarms += len(report.drifted_features)
    assert alarms == 0  # KS p-values alone would flag ~5% of the 50 comparisons


def test_methods_and_thresholds_per_feature() -> None:
    rng = np.random.default_rng(3)
    ref, cur = _frame(5000, rng), _frame(5000, rng, shift=0.1)
    report = monitoring.drift(
        ref, cur, methods={"income": "psi", "region": "psi"}, thresholds={"score": 0.01}
    )
    frame = report.to_frame().set_index("feature")
    assert frame.loc["income", "method"] == "psi" and frame.loc["score", "threshold"] == 0.01
    # a tiny shift (0.08 sd) past a strict threshold, but 5,000 rows cannot tell it from noise
    assert not frame.loc["score", "drifted"]
    assert "0.0595 ≥ 0.01 but within sampling noise (KS p=0.0046" in frame.loc["score", "rule"]
    with pytest.raises(InvalidInput, match="methods\\['region'\\]"):
        monitoring.drift(ref, cur, methods={"region": "ks"})
    with pytest.raises(InvalidInput, match="one of"):
        monitoring.drift(ref, cur, methods={"income": "t-test"})
    with pytest.raises(InvalidInput, match="not compared"):
        monitoring.drift(ref, cur, thresholds={"nope": 0.1})
    with pytest.raises(InvalidInput, match="drift_share"):
        monitoring.drift(ref, cur, drift_share=0)


def test_odd_windows_are_reported_not_judged_and_never_crash() -> None:
    rng = np.random.default_rng(4)
    ref = _frame(2000, rng).assign(constant=1.0, empty=np.nan, only_ref=1)
    cur = _frame(2000, rng).assign(constant=1.0, empty=np.nan, only_cur="x")
    report = monitoring.drift(ref, cur)
    frame = report.to_frame().set_index("feature")
    assert frame.loc["only_ref", "note"] == "missing in the current window"
    assert frame.loc["only_cur", "note"] == "missing in the reference"
    assert frame.loc["empty", "note"] == "all missing in the reference"
    assert frame.loc["constant", "note"] == "constant in the reference"
    assert not frame.loc["constant", "drifted"]
    for feature in ("only_ref", "only_cur", "empty"):
        assert not frame.loc[feature, "drifted"] and pd.isna(frame.loc[feature, "method"])
    tiny = monitoring.drift(_frame(10, rng), _frame(8, rng, shift=0.5)).to_frame()
    assert not tiny["drifted"].any() and tiny["note"].str.startswith("too few values").all()
    shifted_constant = monitoring.drift(ref[["constant"]], cur[["constant"]].assign(constant=2.0))
    assert shifted_constant.drifted_features == ["constant"]


@pytest.mark.parametrize("compare", [monitoring.drift, monitoring.drift_stream])
def test_dates_times_and_durations_are_compared_as_numbers(compare: Any) -> None:
    rng = np.random.default_rng(6)
    days_ref, days_cur = rng.integers(0, 400, 3000), rng.integers(60, 460, 3000)

    def table(days: np.ndarray) -> pa.Table:
        dates = np.datetime64("2026-01-01") + days.astype("timedelta64[D]")
        return pa.table({
            "date": pa.array(dates, pa.date32()),
            "date64": pa.array(dates.astype("datetime64[ms]"), pa.date64()),
            "time": pa.array((days * 60).astype("timedelta64[s]").astype(np.int32), pa.time32("s")),
            "waited": pa.array(days.astype("timedelta64[D]").astype("timedelta64[s]")),
        })  # fmt: skip

    frame = compare(table(days_ref), table(days_cur)).to_frame().set_index("feature")
    expected = ks_2samp(days_ref, days_cur)
    assert frame["drifted"].all() and (frame["kind"] == "numeric").all()
    np.testing.assert_allclose(frame["ks"], expected.statistic, rtol=1e-12)
    assert np.allclose(frame["wasserstein_norm"], frame.loc["date", "wasserstein_norm"])


@pytest.mark.parametrize("compare", [monitoring.drift, monitoring.drift_stream])
def test_values_too_large_to_square_give_the_statistics_of_smaller_ones(compare: Any) -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 2000), rng.normal(0.3, 1, 2000)
    small = compare(pd.DataFrame({"x": a}), pd.DataFrame({"x": b})).to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        huge = compare(pd.DataFrame({"x": a * 1e300}), pd.DataFrame({"x": b * 1e300}))
    columns = ["ks", "ks_p_value", "wasserstein_norm", "psi", "jensenshannon"]
    np.testing.assert_allclose(huge.to_frame()[columns], small[columns], rtol=1e-9)


def test_inputs_arrow_dataset_versions_and_a_prepared_reference(home: Path) -> None:
    rng = np.random.default_rng(5)
    ref, cur = _frame(3000, rng), _frame(3000, rng, shift=0.5)
    version = sy.datasets.register("applications", ref)
    prepared = monitoring.Reference(version.ref)
    from_ref = monitoring.drift(version.ref, cur).to_frame()
    from_arrow = monitoring.drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)).to_frame()
    reused = monitoring.drift(prepared, cur).to_frame()
    pd.testing.assert_frame_equal(from_ref, from_arrow)
    pd.testing.assert_frame_equal(from_ref, reused)
    with pytest.raises(InvalidInput, match="current must be"):
        monitoring.drift(ref, [1, 2, 3])
    assert monitoring.drift(ref, cur).to_dict()["features"][0]["feature"] == "income"


def test_a_tiny_p_value_is_tiny_in_both() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(0, 1, 3000), rng.normal(1, 1, 3000)
    assert ks_2samp(a, b, method="asymp").pvalue < 1e-8
    assert _numeric(a, b)["ks_p_value"] < 1e-8


def test_the_html_report_shows_every_judged_feature_drifted_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    report = monitoring.drift(_frame(5000, rng), _frame(5000, rng, shift=0.5))
    page = report.to_html(tmp_path / "drift.html").read_text()
    assert page.count("Plotly.newPlot") == 5 and page.count("plotly.js v") == 0
    assert '<script src="plotly.min.js"' in page and (tmp_path / "plotly.min.js").is_file()
    first_chart = page.index("Plotly.newPlot")
    assert "income: drifted" in page and "region: no drift" in page
    assert page.index("income: drifted") < page.index("region: no drift")
    assert page.index("<table") < first_chart and "3 of\n5 judged features drifted" in page
    numeric = next(f for f in report.features if f.feature == "income").distribution
    assert len(numeric["bins"]) == 10 and sum(numeric["reference"]) == pytest.approx(1.0)
    categorical = next(f for f in report.features if f.feature == "region").distribution
    assert sorted(categorical["bins"]) == ["east", "north", "south", "west"]


def test_page_hinkley_signals_a_lasting_rise_not_noise() -> None:
    rng = np.random.default_rng(7)
    steady = rng.binomial(1, 0.1, 3000).astype(float)  # a 10% error rate, row by row
    assert monitoring.detect_changes(steady, delta=0.01, threshold=20) == []
    worse = np.concatenate([steady, rng.binomial(1, 0.3, 1000).astype(float)])
    found = monitoring.detect_changes(worse, delta=0.01, threshold=20)
    assert found and 3000 < found[0] < 3300  # within a few hundred rows of the change
    with pytest.raises(InvalidInput, match="threshold"):
        monitoring.PageHinkley(threshold=0)


def test_data_quality_names_what_drift_tests_do_not() -> None:
    rng = np.random.default_rng(8)
    ref = _frame(2000, rng)
    cur = _frame(2000, rng)
    cur.loc[:59, "score"] = 5000.0  # 3% of the values far beyond anything seen
    cur.loc[:19, "region"] = "atlantis"
    cur.loc[:599, "income"] = np.nan
    cur = cur.drop(columns=["age"]).assign(extra=1)
    found = monitoring.quality(ref, cur).set_index("column")
    assert found.loc["score", "issue"] == "values outside the reference's range"
    assert 60 / 2000 <= found.loc["score", "out_of_range"] < 80 / 2000
    assert "5000" in found.loc["score", "examples"]
    assert found.loc["region", "unseen"] == pytest.approx(20 / 2000)
    assert found.loc["region", "examples"] == "atlantis"
    assert found.loc["income", "issue"] == "more missing values than the reference"
    assert found.loc["income", "current_missing"] == pytest.approx(0.3)
    assert found.loc["age", "issue"] == "missing in the current window"
    assert found.loc["extra", "issue"] == "missing in the reference"
    assert found.loc["channel", "issue"] == ""
    clean = monitoring.quality(_frame(2000, rng), _frame(2000, rng))
    assert (clean["issue"] == "").all()  # a fresh sample of the same data raises nothing


def test_quality_counts_rows_outside_the_dataset_schema(home: Path) -> None:
    version = sy.datasets.register("applications", make_loans(2000, seed=0))
    current = make_loans(1000, seed=1)
    current.loc[:4, "term_months"] = np.nan  # 0.5% missing where the schema allows none
    found = monitoring.quality(version.ref, current).set_index("column")
    assert found.loc["term_months", "out_of_schema"] == pytest.approx(0.005)
    assert found.loc["term_months", "issue"] == ""  # under 1%: reported, not an issue
    assert found.loc["application_id", "out_of_schema"] == 0  # uniqueness is not asked
    stricter = sy.datasets.schema("applications").with_column("region", categories=["north"])
    sy.datasets.set_schema("applications", stricter.with_column("age", max=60))
    found = monitoring.quality(version.ref, current).set_index("column")  # the current schema
    assert found.loc["region", "issue"] == "rows outside the schema (categories)"
    assert found.loc["region", "out_of_schema"] == pytest.approx(
        (current["region"] != "north").mean()
    )
    assert "north" in found.loc["region", "examples"]  # the schema's own message
    assert found.loc["age", "out_of_schema"] == pytest.approx((current["age"] > 60).mean())
    given = stricter.with_column("income", dtype="string", min=None, max=None)
    found = monitoring.quality(current, current, schema=given).set_index("column")
    assert found.loc["income", "issue"] == "rows outside the schema (type)"
    assert found.loc["age", "issue"] == ""  # the schema given, not the dataset's
    with pytest.raises(InvalidInput, match="schema must be"):
        monitoring.quality(current, current, schema={"income": "float"})


def test_schema_shares_count_rows_not_columns_or_checks(home: Path) -> None:
    from shipyard.data import ColumnSchema, Schema

    schema = Schema((
        ColumnSchema("age", "int", nullable=False, min=18),
        ColumnSchema("term", "int", nullable=True),
        ColumnSchema("code", "string", nullable=False, categories=("a1", "b2"), regex=r"[a-z]\d"),
    ))  # fmt: skip
    current = pa.table({
        "age": pa.array([30.0] * 399 + [30.5]),  # one value no whole number
        "term": pa.array([12.0] * 399 + [float("nan")]),  # as the log keeps a JSON null
        "code": pa.array(["a1"] * 397 + ["zz"] * 3),  # 3 rows fail categories and regex
    })  # fmt: skip
    found = monitoring.quality(current, current, schema=schema).set_index("column")
    assert found.loc["age", "out_of_schema"] == pytest.approx(1 / 400)
    assert found.loc["age", "issue"] == "rows outside the schema (type)"  # any wrong type
    assert "30.5" in found.loc["age", "examples"]
    assert found.loc["term", "out_of_schema"] == 0 and found.loc["term", "issue"] == ""
    assert found.loc["code", "out_of_schema"] == pytest.approx(3 / 400)  # not 6 / 400
    assert found.loc["code", "issue"] == ""  # under 1%

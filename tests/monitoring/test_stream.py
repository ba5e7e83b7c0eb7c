"""Streamed drift: within its documented bounds of drift(), from every kind of source, in
bounded memory, with drift()'s notes and clear errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shipyard as sy
from shipyard.errors import InvalidInput
from shipyard.monitoring import DriftReport, drift
from shipyard.monitoring._stream import _key, _unkey, drift_stream


def _frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    seconds = rng.integers(0, 10**6, n) + int(shift * 10**5)
    return pd.DataFrame(
        {
            "income": rng.lognormal(10 + shift, 0.5, n),  # a long right tail
            "score": rng.normal(600 + 40 * shift, 50, n),
            "age": rng.integers(18, 80, n),  # few distinct values: every one an edge
            "rate": np.round(rng.normal(shift, 1, n), 2),  # ties
            "gap": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(1 + shift, n)),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"),
            "region": pd.Categorical(rng.choice(["north", "south", "east", "west"], n)),
            "channel": rng.choice(["web", "branch"], n, p=[0.7 - shift / 2, 0.3 + shift / 2]),
            "flag": rng.random(n) < 0.3 + shift / 5,
        }
    )


def _agree(
    exact: DriftReport, streamed: DriftReport, resolution: int, rel_w: float, verdicts: bool = True
) -> None:
    """Same verdicts and notes; numeric statistics within the documented bounds; the rest
    equal. (Verdicts may differ where a statistic is within its error of the threshold.)"""
    assert [f.feature for f in streamed.features] == [f.feature for f in exact.features]
    if verdicts:
        assert streamed.share == exact.share and streamed.drifted == exact.drifted
    for e, s in zip(exact.features, streamed.features, strict=True):
        same = ("kind", "method", "threshold", "note", "reference_rows", "current_rows")
        same += ("drifted",) if verdicts else ()
        assert [getattr(s, a) for a in same] == [getattr(e, a) for a in same], e.feature
        assert (s.reference_missing, s.current_missing) == (e.reference_missing, e.current_missing)
        zero = {"bins": [re.sub(r"-0(?= |$)", "0", b) for b in e.distribution.get("bins", [])]}
        assert s.distribution == ({**e.distribution, **zero} if zero["bins"] else e.distribution)
        if e.kind != "numeric" or not e.stats:
            assert s.stats == e.stats, e.feature  # categorical: the same counts, exactly
            assert (s.rule, s.noise, s.significance) == (e.rule, e.noise, e.significance)
            continue
        got, want = s.stats, e.stats
        assert got["ks"] - 1e-12 <= want["ks"] <= got["ks"] + got["ks_error"] + 1e-12, e.feature
        assert got["ks_error"] <= 2 / resolution
        w, error = got["wasserstein"], got["wasserstein_error"]
        assert abs(w - want["wasserstein"]) <= error + 1e-9 * want["wasserstein"], e.feature
        assert w == pytest.approx(want["wasserstein"], rel=rel_w, abs=1e-12), e.feature
        for exact_key in ("psi", "jensenshannon"):  # exact deciles, exact counts
            assert got[exact_key] == pytest.approx(want[exact_key], rel=1e-12, abs=1e-15)
        if got["ks_error"] == 0:
            assert got["ks_p_value"] == want["ks_p_value"]


@pytest.mark.parametrize(("shift", "rel_w"), [(0.0, 0.01), (0.05, 1e-3), (0.5, 1e-4)])
def test_streamed_statistics_are_within_their_bounds_of_drift(shift: float, rel_w: float) -> None:
    rng = np.random.default_rng(10)
    ref, cur = _frame(120_000, rng), _frame(100_000, rng, shift)
    streamed = drift_stream(ref, cur, batch_rows=16_384)
    _agree(drift(ref, cur), streamed, 2_048, rel_w)
    assert len(streamed.drifted_features) == {0.0: 0, 0.05: 0, 0.5: 7}[shift]


def test_a_decile_cell_too_big_to_collect_is_narrowed_to_the_exact_value() -> None:
    # 16 cells of ~1,900 values, collected only up to 128: histograms of the bit patterns
    rng = np.random.default_rng(11)
    ref, cur = _frame(30_000, rng), _frame(30_000, rng, 0.2)
    columns = ["income", "score", "rate", "gap"]
    streamed = drift_stream(ref, cur, columns=columns, batch_rows=128, resolution=16)
    _agree(drift(ref, cur, columns=columns), streamed, 16, 1.0, verdicts=False)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["normal", "heavy", "ties", "raw"]),
    st.integers(30, 2_000),
    st.integers(30, 2_000),
    st.sampled_from([10, 16, 64]),
    st.lists(st.floats(-1e150, 1e150), min_size=30, max_size=100),
)
def test_the_bounds_hold_for_any_samples(
    seed: int, shape: str, n: int, m: int, resolution: int, raw: list[float]
) -> None:
    rng = np.random.default_rng(seed)
    if shape == "raw":  # extreme magnitudes, -0.0, subnormals: whatever Hypothesis finds
        a, b = np.array(raw), rng.permutation(np.array(raw))[: max(len(raw) // 2, 30)]
    else:
        a, b = rng.standard_normal(n), rng.standard_normal(m) * 1.5 + 0.2
        if shape == "heavy":
            a, b = np.exp(3 * a), np.exp(3 * b)
        elif shape == "ties":
            a, b = np.round(a, 1), np.round(b, 1)
    exact = drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}))
    # small grids and batches: cells of up to 200 values, narrowed when over 64
    streamed = drift_stream(pa.table({"x": a}), pa.table({"x": b}), batch_rows=64,
                            resolution=resolution)  # fmt: skip
    _agree(exact, streamed, resolution, rel_w=1.0, verdicts=len(a) <= 64 * resolution)
    itself = drift_stream(pa.table({"x": a}), pa.table({"x": a}), resolution=resolution)
    stats = itself.features[0].stats
    assert stats["ks"] == stats["psi"] == stats["jensenshannon"] == 0 and not itself.drifted
    assert stats["wasserstein"] <= 1e-12 * float(np.abs(a).max())


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False))
def test_float_keys_keep_order_and_round_trip(x: float, y: float) -> None:
    assert _unkey(_key(x)) == x and _unkey(_key(x)) + 0.0 == x + 0.0
    assert (_key(x) < _key(y)) == (x < y) and (_key(x) == _key(y)) == (x == y)


def _batches(frame: pd.DataFrame, rows: int) -> Iterator[pa.RecordBatch]:
    yield from pa.Table.from_pandas(frame, preserve_index=False).to_batches(max_chunksize=rows)


def test_every_source_gives_the_same_report(tmp_path: Path, home: Path) -> None:
    rng = np.random.default_rng(12)
    ref, cur = _frame(10_000, rng), _frame(10_000, rng, 0.3)
    for side, frame in (("ref", ref), ("cur", cur)):
        (tmp_path / side).mkdir()
        for i, part in enumerate(np.array_split(np.arange(len(frame)), 4)):
            pq.write_table(
                pa.Table.from_pandas(frame.iloc[part], preserve_index=False),
                tmp_path / side / f"part-{i}.parquet", row_group_size=1_000,
            )  # fmt: skip
    ref_files = sorted((tmp_path / "ref").glob("*.parquet"))
    schema = pa.Schema.from_pandas(ref, preserve_index=False)
    version = sy.datasets.register("applications", ref)
    later = sy.datasets.register("applications", cur)
    want = drift_stream(ref, cur, resolution=64).to_frame()  # cells of ~150 values
    sources = [
        (tmp_path / "ref", str(tmp_path / "cur")),  # directories
        (str(tmp_path / "ref" / "*.parquet"), [str(p) for p in (tmp_path / "cur").iterdir()]),
        (ref_files, ds.dataset(tmp_path / "cur")),  # a list of paths, a pyarrow Dataset
        (_batches(ref, 2_500), _batches(cur, 3_500)),  # read once: the reference is spilled
        (list(_batches(ref, 2_500)), pa.Table.from_pandas(cur)),
        (pa.RecordBatchReader.from_batches(schema, _batches(ref, 999)), cur),  # read once too
        ("applications@1", later),  # a dataset reference and a version: their Parquet files
    ]
    for reference, current in sources:
        got = drift_stream(reference, current, batch_rows=1_024, resolution=64).to_frame()
        # the same rows in the same order: the same sample, grid and counts
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    itself = drift_stream(version.ref, version.dataset()).to_frame()
    assert not itself["drifted"].any() and (itself["psi"].fillna(0) == 0).all()


def test_odd_windows_get_drifts_notes() -> None:
    rng = np.random.default_rng(13)
    ref = _frame(2_000, rng).assign(constant=1.0, empty=np.nan, only_ref=1, kind=1.5)
    cur = _frame(2_000, rng).assign(constant=1.0, empty=np.nan, only_cur="x", kind="text")
    streamed = drift_stream(ref, cur, batch_rows=300)
    _agree(drift(ref, cur), streamed, 2_048, 0.01)
    notes = streamed.to_frame().set_index("feature")["note"]
    assert notes["only_ref"] == "missing in the current window"
    assert notes["only_cur"] == "missing in the reference"
    assert notes["empty"] == "all missing in the reference"
    assert notes["constant"] == "constant in the reference"
    assert notes["kind"] == "numeric in the reference but categorical in the current window"
    tiny_ref, tiny_cur = _frame(12, rng), _frame(9, rng, 0.5)
    _agree(drift(tiny_ref, tiny_cur), drift_stream(tiny_ref, tiny_cur), 2_048, 1.0)
    small_ref, small_cur = _frame(400, rng), _frame(300, rng, 1.0)  # judged by p-values
    _agree(drift(small_ref, small_cur), drift_stream(small_ref, small_cur), 2_048, 1e-3)
    chosen = {"income": "psi", "region": "psi"}
    _agree(
        drift(ref, cur, methods=chosen, thresholds={"score": 0.01}, importance={"score": 2}),
        drift_stream(ref, cur, methods=chosen, thresholds={"score": 0.01}, importance={"score": 2}),
        2_048, 0.05,
    )  # fmt: skip


def test_bad_input_is_named(tmp_path: Path) -> None:
    frame = _frame(100, np.random.default_rng(14))
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not parquet")
    for path in (tmp_path / "empty", tmp_path / "missing.parquet", f"{tmp_path}/*.parquet"):
        with pytest.raises(
            InvalidInput, match=re.escape(f"reference: no Parquet files at '{path}'")
        ):
            drift_stream(path, frame)
    with pytest.raises(InvalidInput, match="current: could not read"):
        drift_stream(frame, tmp_path / "notes.txt")
    bad: list[tuple[dict[str, object], str]] = [
        ({"batch_rows": 0}, "batch_rows must be an integer of at least 1"),
        ({"resolution": 4}, "resolution must be an integer of at least 10"),
        ({"drift_share": 0}, "drift_share"),
        ({"methods": {"income": "t-test"}}, "one of"),
        ({"methods": {"region": "ks"}}, "methods\\['region'\\]"),
        ({"thresholds": {"nope": 0.1}}, "not compared"),
        ({"columns": "income"}, "columns must be a list"),
    ]
    for arguments, message in bad:
        with pytest.raises(InvalidInput, match=message):
            drift_stream(frame, frame, **arguments)
    with pytest.raises(InvalidInput, match="current must be Parquet path"):
        drift_stream(frame, 42)
    with pytest.raises(InvalidInput, match="reference: expected record batches"):
        drift_stream([1, 2, 3], frame)
    with pytest.raises(InvalidInput, match="holds no record batches"):
        drift_stream(iter([]), frame)
    with pytest.raises(InvalidInput, match="current: a batch has no column 'income'"):
        drift_stream(
            frame, [pa.table({"income": [1.0], "score": [1.0]}), pa.table({"score": [1.0]})]
        )


_MEASURE = """
import json, resource, sys, time, tracemalloc
import pyarrow as pa
from shipyard.monitoring._stream import drift_stream

root = sys.argv[1]
drift_stream(f"{root}/ref/part-0.parquet", f"{root}/cur/part-0.parquet")  # imports, threads
pool = pa.default_memory_pool()
tracemalloc.start()
out = {}
for window in ("part-0.parquet", ""):  # one file a side, then all of them
    tracemalloc.reset_peak()
    rss, arrow = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, pool.max_memory()
    start = time.perf_counter()
    report = drift_stream(f"{root}/ref/{window}", f"{root}/cur/{window}")
    out[window or "all"] = {
        "seconds": time.perf_counter() - start,
        "arrow_peak_growth": pool.max_memory() - arrow,
        "numpy_peak": tracemalloc.get_traced_memory()[1],
        "rss_peak_growth": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) * 1024,
        "arrow_peak": pool.max_memory(),
        "drifted": report.drifted_features,
    }
print(json.dumps(out))
"""


def test_memory_stays_bounded_on_a_window_of_millions_of_rows(tmp_path: Path) -> None:
    """2 million rows a side in 8 files (48 MB a side in memory), read in 65,536-row
    batches: the peak of Arrow's allocations and NumPy's stays that of a single file's
    window, in a fresh process."""
    rng = np.random.default_rng(15)
    files, rows = 8, 250_000
    for side, shift in (("ref", 0.0), ("cur", 0.2)):
        (tmp_path / side).mkdir()
        for i in range(files):
            table = pa.table(
                {
                    "income": rng.lognormal(10 + shift, 0.5, rows),
                    "score": rng.normal(600, 50, rows),
                    "age": rng.integers(18, 80, rows),
                }
            )
            pq.write_table(table, tmp_path / side / f"part-{i}.parquet", compression="none")
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    one, everything = measured["part-0.parquet"], measured["all"]
    window = 2 * files * rows * 3 * 8  # both sides' columns, decoded
    assert everything["drifted"] == ["income"] and one["drifted"] == ["income"]
    # eight times the rows, no more memory than one file's window: Arrow (decoding), NumPy
    # (samples, grids, batches) and the process as a whole
    assert everything["arrow_peak_growth"] < 4 * 2**20
    assert everything["numpy_peak"] < one["numpy_peak"] + 4 * 2**20
    assert everything["rss_peak_growth"] < window / 4
    assert everything["arrow_peak"] + everything["numpy_peak"] < window / 2

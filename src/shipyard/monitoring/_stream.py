"""Data drift for windows larger than memory: :func:`drift`'s report from record batches.

Both sides are read a batch at a time, columns projected (Parquet files through a buffered
stream, so that a batch, not a row group, is decoded at once): memory is bounded by
``batch_rows`` and ``resolution``, never by the window's length. Categorical columns get
exact value counts (merged in Arrow every few batches), then :func:`categorical_stats`.
Numeric columns are counted on a grid of reference quantiles; the reference is read up to
three times, the current window once:

1. count, mean and variance (merged per batch), min, max, and a uniform sample of
   ``64 * resolution`` values (seeded) whose quantiles at ``j / resolution``, and a few
   further into each tail, are the grid's edges. A reference no larger than the sample
   makes every value an edge and skips pass 2.
2. counts on the grid: values inside each open cell between edges, values equal to each
   edge, and each cell's sum of distances from its left edge.
3. the exact deciles, the order statistics :func:`drift` bins PSI and Jensen–Shannon on:
   pass 2 says which cell holds each decile's rank; this pass collects that cell's values,
   picks the decile and splits the cell there. A cell of more than ``batch_rows`` values
   (references beyond about ``resolution * batch_rows`` rows) is narrowed instead, one pass
   at a time (four at most), by a 65,536-bucket histogram of its values' bit patterns, and
   split by one more pass.

The sample only decides where the edges fall; the bounds below come from the counts and
hold whatever it drew.

Every statistic of ``_statistics.STATISTICS`` is computed from these inputs as :func:`drift`
computes it from its own; each entry says whether drift_stream gives it exactly.

- PSI and Jensen–Shannon: exact (exact decile edges, exact counts).
- KS: ``ks`` is the largest gap between the CDFs at the edges and just below them, never
  above the exact statistic, which is at most ``ks + ks_error``. Inside a cell the gap can
  grow by no more than the smaller of the two sides' masses there, so ``ks_error`` is at
  most the largest reference mass of an open cell: about ``1 / resolution``, and zero when
  every reference value sits on an edge (few distinct values, or a small reference). The
  p-value is computed from ``ks`` as :func:`drift` does, so it errs towards no drift.
- Wasserstein: the area between the CDFs, cell by cell. A cell's signed area is exact (its
  counts and distance sums give each CDF's integral), and so is its absolute area unless
  the CDFs cross inside; where their order differs at the cell's two ends they must, and
  there both are taken as linear across the cell (within what the counts allow). Beyond the
  reference's range the area is exact. ``|wasserstein - exact| <= wasserstein_error``, the
  sum over cells where the CDFs' ranges overlap of ``2 * width * min(largest gap either
  way)``: a worst case, loose where the distance is sampling noise (measured errors: below
  0.5% between two samples of one distribution, below 1e-4 relative on real shifts).

Verdicts: the same rule as :func:`drift`'s (an effect size must reach its threshold and be
beyond sampling noise). Categorical features and the distances of the decile shares have
exact counts here, so their noise level, p-value, rule and verdict are :func:`drift`'s to the
digit. A Wasserstein verdict asks the KS p-value, which errs towards no drift within the KS
bound above; with ``wasserstein`` within its error of the threshold, the two can differ only
where either value is within its bound of its limit.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.monitoring._batches import Source, column_kinds, finite_floats, open_source
from shipyard.monitoring._inputs import (
    BINS,
    Cdfs,
    Inputs,
    categorical_distribution,
    categorical_inputs,
    short,
)
from shipyard.monitoring._statistics import measure
from shipyard.monitoring._summaries import Cells, Reservoir, Summary
from shipyard.monitoring._verdict import (
    DriftReport,
    FeatureDrift,
    check_choices,
    judge,
    unjudgeable,
    verdict,
)

__all__ = ["drift_stream"]

SAMPLE_PER_CELL = 64  # sampled values per grid cell: cell masses within ~15% of 1/resolution
BUCKETS = 1 << 16  # narrowing histogram of a decile's cell
_SIGN = np.uint64(1 << 63)


def drift_stream(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    importance: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    batch_rows: int = 65_536,
    resolution: int = 2_048,
) -> DriftReport:
    """:func:`drift` for windows of any size, read in record batches.

    ``reference`` and ``current`` may each be a Parquet path (file, directory of
    ``*.parquet``, glob, or a list of them), a ``pyarrow.dataset.Dataset``, a dataset
    reference like ``"loans@1"`` (its Parquet file is streamed), an Arrow table or
    DataFrame, or an iterable of record batches or tables (read once; a reference read once
    is spilled to a temporary Parquet file). Same report, defaults, notes and thresholds as
    :func:`drift`; numeric statistics come with ``ks_error`` and ``wasserstein_error``
    (see the module docstring for the bounds).

    Args:
        columns, categorical, methods, thresholds, importance, drift_share: as in
            :func:`drift`.
        batch_rows: rows per record batch read (memory grows with it).
        resolution: grid cells per numeric column (KS error about ``1 / resolution``).

    Raises:
        InvalidInput: an argument out of range, a path without Parquet files, or an input of
            another type (each named).

    Example:
        >>> drift_stream("data/reference/*.parquet", "loans@7")  # doctest: +SKIP
    """
    if not 0 < drift_share <= 1:
        raise InvalidInput(f"drift_share must be in (0, 1]; got {drift_share}.")
    _check_int("batch_rows", batch_rows, 1)
    _check_int("resolution", resolution, BINS)
    if isinstance(columns, str):
        raise InvalidInput(f"columns must be a list of column names; got the string {columns!r}.")
    with tempfile.TemporaryDirectory(prefix="shipyard-drift-") as spill:
        ref, cur = open_source(reference, "reference"), open_source(current, "current")
        ref_kinds = column_kinds(ref.schema, set(categorical))
        cur_kinds = column_kinds(cur.schema, set(categorical))
        names = list(columns) if columns is not None else [
            *ref_kinds, *(n for n in cur_kinds if n not in ref_kinds)
        ]  # fmt: skip
        methods, thresholds = dict(methods or {}), dict(thresholds or {})
        check_choices(methods, thresholds, names)
        wanted = {n: ref_kinds[n] for n in dict.fromkeys(names) if n in ref_kinds}
        refs = _reference(ref, wanted, batch_rows, resolution, Path(spill))
        wanted = {n: cur_kinds[n] for n in dict.fromkeys(names) if n in cur_kinds}
        curs = _current(cur, wanted, refs, batch_rows)
    features = [
        _compare(n, refs.get(n), curs.get(n), methods.get(n), thresholds.get(n)) for n in names
    ]
    return verdict(features, importance, drift_share)


def _check_int(name: str, value: object, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise InvalidInput(f"{name} must be an integer of at least {least}; got {value!r}.")


# -- passes -----------------------------------------------------------------------------


def _reference(
    source: Source, kinds: Mapping[str, str], batch_rows: int, resolution: int, spill: Path
) -> dict[str, Summary]:
    out = {n: Summary(kind) for n, kind in kinds.items()}
    numeric = [n for n, kind in kinds.items() if kind == "numeric"]
    for seed, name in enumerate(numeric):
        out[name].sample = Reservoir(SAMPLE_PER_CELL * resolution, seed)
    writer = None
    for batch in source.batches(list(kinds), batch_rows) if kinds else ():
        if source.once and numeric:  # numeric columns need more passes: keep what we read
            import pyarrow.parquet as pq

            kept = batch.select(numeric)
            writer = writer or pq.ParquetWriter(spill / "reference.parquet", kept.schema)
            if not kept.schema.equals(writer.schema):
                raise InvalidInput(
                    f"reference: batches disagree on their columns' types ({kept.schema} after "
                    f"{writer.schema})."
                )
            writer.write_batch(kept)
        for name, summary in out.items():
            values = summary.add(batch.column(name), moments=True)
            if values is not None and summary.sample is not None:
                summary.sample.add(values)
    if writer is not None:
        import pyarrow.dataset as ds

        writer.close()
        source = Source(source.side, None, dataset=ds.dataset(spill / "reference.parquet"))
    present, counted = [n for n in numeric if out[n].present], []
    for name in present:
        summary = out[name]
        assert summary.sample is not None
        sample = np.sort(summary.sample.values)
        whole = len(sample) == summary.present
        summary.cells = Cells(_grid(sample, resolution, summary.low, summary.high, whole))
        summary.sample = None
        if whole:  # every value in hand: counted now, no pass
            summary.cells.add(sample)
            counted.append(name)
    rest = [n for n in present if n not in counted]
    for batch in source.batches(rest, batch_rows) if rest else ():
        for name in rest:
            cells = out[name].cells
            assert cells is not None
            cells.add(finite_floats(batch.column(name)))
    _exact_deciles(source, {n: out[n] for n in present}, batch_rows)
    return out


def _grid(sample: np.ndarray, resolution: int, low: float, high: float, whole: bool) -> np.ndarray:
    """Every value when the sample holds them all (KS and the deciles then come out exact);
    else edges at the sorted sample's quantiles ``j / resolution``, and in each tail at the
    quantiles ``2**-i / resolution`` (narrow cells where long tails make them wide)."""
    if whole:
        return np.unique(sample)
    n = len(sample)
    tails = (n / resolution / 2.0 ** np.arange(1, 64)).astype(np.int64)
    tails = tails[tails > 0]
    positions = np.concatenate([(np.arange(1, resolution) * n) // resolution, tails, n - 1 - tails])
    return np.unique(np.concatenate([[low], sample[positions], [high]]))


def _current(
    source: Source, kinds: Mapping[str, str], reference: Mapping[str, Summary], batch_rows: int
) -> dict[str, Summary]:
    out = {n: Summary(kind) for n, kind in kinds.items()}
    for name, summary in out.items():
        ref = reference.get(name)
        if summary.kind == "numeric" and ref is not None and ref.cells is not None:
            summary.cells = Cells(ref.cells.edges)
    for batch in source.batches(list(kinds), batch_rows) if kinds else ():
        for name, summary in out.items():
            values = summary.add(batch.column(name))
            if values is not None and summary.cells is not None:
                summary.cells.add(values)
    return out


@dataclass
class _Target:
    """A decile inside an open cell: its rank among the values whose bit patterns (as
    ordered keys) lie in ``lo..hi``, ``count`` values in all."""

    name: str
    cell: int
    rank: int
    lo: int
    hi: int
    count: int
    whole: bool = True  # lo..hi is still the whole cell


def _exact_deciles(source: Source, columns: Mapping[str, Summary], batch_rows: int) -> None:
    """Find each column's decile values (as :func:`drift` picks them) and cut the grid there."""
    targets: list[_Target] = []
    found: dict[str, set[float]] = {}
    for name, summary in columns.items():
        cells = summary.cells
        assert cells is not None
        total = np.cumsum(cells.slots)
        found[name] = set()
        for rank in (np.arange(1, BINS) * summary.present) // BINS:
            slot = int(np.searchsorted(total, rank, side="right"))
            if slot % 2:  # on an edge
                found[name].add(float(cells.edges[slot // 2]))
                continue
            inner = int(rank - total[slot - 1])
            lo, hi = _key(cells.edges[slot // 2 - 1]) + 1, _key(cells.edges[slot // 2]) - 1
            targets.append(_Target(name, slot // 2, inner, lo, hi, int(cells.slots[slot])))
    whole: dict[tuple[str, int], np.ndarray] = {}
    while targets:
        groups: dict[tuple[str, int, int], list[_Target]] = {}
        for t in targets:
            groups.setdefault((t.name, t.lo, t.hi), []).append(t)
        results = _scan_ranges(source, groups, batch_rows)
        targets = []
        for (name, lo, hi), group in groups.items():
            result = results[(name, lo, hi)]
            for t in group:
                if t.count <= batch_rows:  # collected: the value by its rank
                    found[name].add(float(result[t.rank]))
                    if t.whole:
                        whole[(name, t.cell)] = result
                    continue
                shift = max((hi - lo).bit_length() - 16, 0)
                total = np.cumsum(result)
                bucket = int(np.searchsorted(total, t.rank, side="right"))
                t.rank -= int(total[bucket - 1]) if bucket else 0
                t.lo = lo + (bucket << shift)
                t.hi = min(hi, t.lo + (1 << shift) - 1)
                t.count, t.whole = int(result[bucket]), False
                if t.lo == t.hi:  # one value left
                    found[name].add(_unkey(t.lo))
                else:
                    targets.append(t)
    _cut(source, columns, found, whole, batch_rows)


def _scan_ranges(
    source: Source, groups: Mapping[tuple[str, int, int], list[_Target]], batch_rows: int
) -> dict[tuple[str, int, int], np.ndarray]:
    """One pass: per key range, its sorted values (when few) or a histogram of them."""
    parts: dict[tuple[str, int, int], list[np.ndarray]] = {key: [] for key in groups}
    counts = {
        key: np.zeros(BUCKETS, np.int64) for key, g in groups.items() if g[0].count > batch_rows
    }
    pending: dict[tuple[str, int, int], int] = {}
    names = sorted({name for name, _, _ in groups})
    for batch in source.batches(names, batch_rows):
        for name in names:
            values = finite_floats(batch.column(name))
            keys = _keys(values)
            for key in groups:
                _, lo, hi = key
                if key[0] != name:
                    continue
                inside = (keys >= np.uint64(lo)) & (keys <= np.uint64(hi))
                if key not in counts:
                    parts[key].append(values[inside])
                    continue
                shift = np.uint64(max((hi - lo).bit_length() - 16, 0))
                parts[key].append(((keys[inside] - np.uint64(lo)) >> shift).astype(np.int64))
                pending[key] = pending.get(key, 0) + len(parts[key][-1])
                if pending[key] > BUCKETS:  # count now and then, not per batch
                    counts[key] += np.bincount(np.concatenate(parts[key]), minlength=BUCKETS)
                    parts[key], pending[key] = [], 0
    out = {}
    for key, found in parts.items():
        if key in counts:
            out[key] = counts[key] + np.bincount(
                np.concatenate([[], *found]).astype(np.int64), minlength=BUCKETS
            )
        else:
            out[key] = np.sort(np.concatenate([np.empty(0), *found]))
    return out


def _cut(
    source: Source,
    columns: Mapping[str, Summary],
    found: Mapping[str, set[float]],
    whole: Mapping[tuple[str, int], np.ndarray],
    batch_rows: int,
) -> None:
    """Add the decile values to the grids' edges, splitting the cells that held them (from
    their collected values, or from one more pass when a cell was too big to collect)."""
    parts: dict[tuple[str, int], Cells] = {}
    for name, summary in columns.items():
        cells = summary.cells
        assert cells is not None
        summary.deciles = np.array(sorted(found[name]))
        inner = summary.deciles[~np.isin(summary.deciles, cells.edges)]
        for cell in np.unique(np.searchsorted(cells.edges, inner)).tolist():
            cut = inner[np.searchsorted(cells.edges, inner) == cell]
            part = Cells(
                np.concatenate([cells.edges[cell - 1 : cell], cut, cells.edges[cell:][:1]])
            )
            if (name, cell) in whole:  # the cell's values are in hand
                part.add(whole[(name, cell)])
            parts[(name, cell)] = part
    pending = {key: part for key, part in parts.items() if key not in whole}
    names = sorted({name for name, _ in pending})
    for batch in source.batches(names, batch_rows) if names else ():
        for name in names:
            values = finite_floats(batch.column(name))
            for (part_name, _), part in pending.items():
                if part_name == name:
                    a, b = part.edges[0], part.edges[-1]
                    part.add(values[(values > a) & (values < b)])
    for (name, cell), part in sorted(parts.items(), key=lambda kv: -kv[0][1]):
        cells = columns[name].cells
        assert cells is not None
        columns[name].cells = cells.splice(cell, part)


def _keys(values: np.ndarray) -> np.ndarray:
    """Unsigned integers ordered as the float64 values are (-0.0 as 0.0)."""
    bits = (values + 0.0).view(np.uint64)
    keys: np.ndarray = np.where(bits >= _SIGN, ~bits, bits | _SIGN)
    return keys


def _key(value: float) -> int:
    return int(_keys(np.array([value], dtype=np.float64))[0])


def _unkey(key: int) -> float:
    bits = key ^ (1 << 63) if key >= 1 << 63 else ~key & ((1 << 64) - 1)
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


# -- statistics and verdicts --------------------------------------------------------------


def _numeric_inputs(ref: Summary, cur: Summary) -> Inputs:
    """The inputs of every statistic from the two sides' counts on one grid: the decile
    bins' counts (exact), the CDFs' largest gap seen at the edges and the area between them,
    with their error bounds (module docstring)."""
    r, c = ref.cells, cur.cells
    assert r is not None and c is not None and ref.deciles is not None
    n, m = ref.present, cur.present
    cdf_r, cdf_c = np.cumsum(r.slots) / n, np.cumsum(c.slots) / m  # after each slot
    ks = float(np.abs(cdf_r - cdf_c).max())  # at each edge, and just below it
    # in each open cell: the CDFs at its start, and just before its end
    start_r, start_c = np.concatenate([[0.0], cdf_r[1::2]]), np.concatenate([[0.0], cdf_c[1::2]])
    end_r, end_c = cdf_r[0::2], cdf_c[0::2]
    up, down = end_r - start_c, end_c - start_r  # the largest gap either way inside
    ks_error = max(float(np.maximum(up, down).max()) - ks, 0.0)
    wasserstein, error = _wasserstein(r, c, n, m, (start_r - start_c, end_r - end_c, up, down))
    scale = ref.std if ref.std > 0 else (abs(ref.low) or 1.0)  # constant: low is the mean
    cdfs = Cdfs(ks, wasserstein, scale, ks_error, error)
    return Inputs.of("numeric", _bins(r, ref.deciles, n), _bins(c, ref.deciles, m), cdfs)


def _wasserstein(
    r: Cells, c: Cells, n: int, m: int, gaps: tuple[np.ndarray, ...]
) -> tuple[float, float]:
    """The area between the CDFs and a bound of its error (module docstring)."""
    inner = slice(1, len(r.edges))  # the open cells between edges (beyond them: exact)
    first, last, up, down = (g[inner] for g in gaps)
    width = np.diff(r.edges)
    area = width * (first + r.slots[0::2][inner] / n - c.slots[0::2][inner] / m) - (
        r.distances[0::2][inner] / n - c.distances[0::2][inner] / m
    )  # signed, exact: counts and distance sums give each CDF's integral over the cell
    error = 2 * width * np.minimum(np.maximum(up, 0.0), np.maximum(down, 0.0))
    # |area| is exact unless the CDFs cross inside the cell; where their order at its two
    # ends differs they must: there take both CDFs as linear in the cell, within the bound
    crossing = first * last < 0
    linear = np.divide(
        width * (first**2 + last**2), 2 * np.abs(first - last),
        where=crossing, out=np.abs(area),
    )  # fmt: skip
    estimate = np.clip(linear, np.abs(area), np.abs(area) + error)
    outer = abs(c.distances[0] / m - r.distances[0] / n) + abs(
        c.distances[-1] / m - r.distances[-1] / n
    )
    return float(estimate.sum()) + outer, float(error.sum())


def _bins(cells: Cells, deciles: np.ndarray, total: int) -> np.ndarray:
    """Counts in :func:`drift`'s decile bins ``(-inf, d1), [d1, d2), ..., [d9, inf)``."""
    below = np.cumsum(cells.slots)[2 * np.searchsorted(cells.edges, deciles)]
    out: np.ndarray = np.diff(np.concatenate([[0], below, [total]]))
    return out


def _distribution(ref: Summary, cur: Summary) -> dict[str, list[Any]]:
    assert ref.deciles is not None
    bounds = [min(ref.low, cur.low), *ref.deciles.tolist(), max(ref.high, cur.high)]
    labels = [f"{short(a)} to {short(b)}" for a, b in itertools.pairwise(bounds)]
    shares = []
    for side in (ref, cur):
        assert side.cells is not None
        shares.append((_bins(side.cells, ref.deciles, side.present) / side.present).tolist())
    return {"bins": labels, "reference": shares[0], "current": shares[1]}


def _compare(
    name: str,
    ref: Summary | None,
    cur: Summary | None,
    method: str | None,
    threshold: float | None,
) -> FeatureDrift:
    """:func:`drift`'s verdict on the streamed summaries."""
    unjudged = unjudgeable(name, ref, cur)
    if unjudged is not None:
        return unjudged
    assert ref is not None and cur is not None
    if ref.kind == "numeric":
        inputs = _numeric_inputs(ref, cur)
        distribution = _distribution(ref, cur)
    else:
        counts_r, counts_c = ref.counter.counts(), cur.counter.counts()
        inputs = categorical_inputs(counts_r, counts_c)
        distribution = categorical_distribution(counts_r, counts_c)
    stats = {key: float(value) for key, value in measure(inputs, stream=True).items()}
    constant = ref.kind == "numeric" and ref.std == 0
    return judge(name, ref, cur, inputs, stats, distribution, method, threshold, constant)

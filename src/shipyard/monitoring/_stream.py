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
"""

from __future__ import annotations

import glob
import itertools
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.monitoring._drift import (
    BINS,
    DriftReport,
    FeatureDrift,
    _categorical_distribution,
    _check_choices,
    _js,
    _judge,
    _psi,
    _shares,
    _short,
    _unjudgeable,
    _verdict,
    categorical_stats,
    ks_p_value,
)

__all__ = ["drift_stream"]

SAMPLE_PER_CELL = 64  # sampled values per grid cell: cell masses within ~15% of 1/resolution
BUCKETS = 1 << 16  # narrowing histogram of a decile's cell
MERGE_EVERY = 32  # batches of value counts kept before merging them
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
        ref, cur = _open(reference, "reference"), _open(current, "current")
        ref_kinds = _kinds(ref.schema, set(categorical))
        cur_kinds = _kinds(cur.schema, set(categorical))
        names = list(columns) if columns is not None else [
            *ref_kinds, *(n for n in cur_kinds if n not in ref_kinds)
        ]  # fmt: skip
        methods, thresholds = dict(methods or {}), dict(thresholds or {})
        _check_choices(methods, thresholds, names)
        wanted = {n: ref_kinds[n] for n in dict.fromkeys(names) if n in ref_kinds}
        refs = _reference(ref, wanted, batch_rows, resolution, Path(spill))
        wanted = {n: cur_kinds[n] for n in dict.fromkeys(names) if n in cur_kinds}
        curs = _current(cur, wanted, refs, batch_rows)
    features = [
        _compare(n, refs.get(n), curs.get(n), methods.get(n), thresholds.get(n)) for n in names
    ]
    return _verdict(features, importance, drift_share)


def _check_int(name: str, value: object, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise InvalidInput(f"{name} must be an integer of at least {least}; got {value!r}.")


# -- inputs -----------------------------------------------------------------------------


class _Source:
    """One side's record batches: a Parquet dataset (read again at will) or items read once
    (an iterator) or again (a list or a table)."""

    def __init__(self, side: str, schema: Any, dataset: Any = None, items: Any = None) -> None:
        self.side, self.schema, self.dataset, self.items = side, schema, dataset, items
        self.once = items is not None and not isinstance(items, (list, tuple))

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Any]:
        import pyarrow as pa

        try:
            if self.dataset is not None:
                yield from _scan(self.dataset, columns, batch_rows)
                return
            for item in self.items:
                if not isinstance(item, (pa.RecordBatch, pa.Table)):
                    raise InvalidInput(
                        f"{self.side}: expected record batches or tables; got "
                        f"{type(item).__name__}."
                    )
                missing = [c for c in columns if c not in item.schema.names]
                if missing:
                    raise InvalidInput(f"{self.side}: a batch has no column {missing[0]!r}.")
                if isinstance(item, pa.RecordBatch):
                    item = pa.Table.from_batches([item])
                yield from item.select(list(columns)).to_batches(max_chunksize=batch_rows)
        except pa.ArrowException as e:
            raise InvalidInput(f"{self.side}: could not read the data ({e}).") from e


def _scan(dataset: Any, columns: Sequence[str], batch_rows: int) -> Iterator[Any]:
    """A dataset's batches, file by file through a buffered stream: Arrow's dataset scanner
    reads ahead as far as it likes when the consumer is slower than the disk (the whole
    window) and decodes a row group at a time, while a Parquet file read in batches holds
    about a batch."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not isinstance(dataset, ds.FileSystemDataset):  # in memory already
        yield from dataset.to_batches(columns=list(columns), batch_size=batch_rows)
        return
    for fragment in dataset.get_fragments():
        if isinstance(fragment, ds.ParquetFileFragment):
            with dataset.filesystem.open_input_file(fragment.path) as handle:
                file = pq.ParquetFile(handle, buffer_size=1 << 20, pre_buffer=False)
                if set(columns) <= set(file.schema_arrow.names):  # else partition keys
                    yield from file.iter_batches(batch_size=batch_rows, columns=list(columns))
                    continue
        yield from fragment.to_batches(
            schema=dataset.schema, columns=list(columns), batch_size=batch_rows,
            batch_readahead=0, fragment_readahead=0,
        )  # fmt: skip


def _open(data: Any, side: str) -> _Source:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds

    if isinstance(data, str) and not _looks_like_path(data):
        from shipyard import data as datasets

        data = datasets.resolve(data)
    if hasattr(data, "dataset") and hasattr(data, "ref"):  # a DatasetVersion
        data = data.dataset()
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    if (
        isinstance(data, (list, tuple))
        and data
        and all(isinstance(d, (str, os.PathLike)) for d in data)
    ):
        try:
            data = ds.dataset(_parquet_files(data, side), format="parquet")
        except pa.ArrowException as e:
            raise InvalidInput(f"{side}: could not read the Parquet files ({e}).") from e
    if isinstance(data, ds.Dataset):
        return _Source(side, data.schema, dataset=data)
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return _Source(side, data.schema, items=[data])
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
        again = isinstance(data, (list, tuple))  # read again at will; else read once
        first = next(iter(data), None)
        if first is None:
            raise InvalidInput(f"{side}: the iterable holds no record batches (no columns known).")
        if not isinstance(first, (pa.RecordBatch, pa.Table)):
            raise InvalidInput(
                f"{side}: expected record batches or tables; got {type(first).__name__}."
            )
        return _Source(side, first.schema, items=data if again else _chain(first, iter(data)))
    raise InvalidInput(
        f"{side} must be Parquet path(s), a pyarrow Dataset, a dataset reference like "
        f"'loans@1', a table or an iterable of record batches; got {type(data).__name__}."
    )


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _looks_like_path(text: str) -> bool:
    return (
        any(c in text for c in "/\\*?[")
        or text.endswith((".parquet", ".parq"))
        or os.path.exists(text)
    )


def _parquet_files(specs: Sequence[str | os.PathLike[str]], side: str) -> list[str]:
    files: list[str] = []
    for spec in specs:
        text = os.fspath(spec)
        if any(c in text for c in "*?["):
            found = sorted(f for f in glob.glob(text, recursive=True) if os.path.isfile(f))
        elif os.path.isdir(text):
            found = sorted(str(f) for f in Path(text).rglob("*.parquet") if f.is_file())
        else:
            found = [text] if os.path.isfile(text) else []
        if not found:
            raise InvalidInput(
                f"{side}: no Parquet files at {text!r} (expected a Parquet file, a directory "
                "holding *.parquet files or a glob like 'data/*.parquet')."
            )
        files += found
    return files


def _kinds(schema: Any, categorical: set[str]) -> dict[str, str]:
    import pyarrow as pa

    if schema is None:
        return {}
    kinds = {}
    for name, kind in zip(schema.names, schema.types, strict=True):
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        numeric = (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_temporal(kind)
            or pa.types.is_decimal(kind)
        )
        kinds[name] = "numeric" if numeric and name not in categorical else "categorical"
    return kinds


def _floats(array: Any) -> np.ndarray:
    """A numeric column's finite values as float64 (times as integers, as :func:`drift`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        array = pc.cast(array, kind.value_type)
        kind = array.type
    if pa.types.is_timestamp(kind):
        array = pc.cast(array, pa.timestamp("ns")).cast(pa.int64())
    elif pa.types.is_temporal(kind):
        array = array.cast(pa.int32() if kind.bit_width == 32 else pa.int64())
    values = pc.cast(array, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    out: np.ndarray = values[np.isfinite(values)] + 0.0  # -0.0 as 0.0
    return out


# -- accumulators -----------------------------------------------------------------------


class _Cells:
    """Counts on the edges ``e_0 < ... < e_{k-1}``, in slots ``(-inf, e_0), {e_0}, (e_0, e_1),
    ..., {e_{k-1}}, (e_{k-1}, inf)``; each open cell also sums its values' distances to its
    finite end nearest the middle (``e_0 - v`` in the first, ``v - left edge`` elsewhere)."""

    def __init__(self, edges: np.ndarray) -> None:
        self.edges = edges
        self.slots = np.zeros(2 * len(edges) + 1, dtype=np.int64)
        self.distances = np.zeros(2 * len(edges) + 1)
        # what each slot's distances are measured from: the open cell's left edge (e_0 for
        # the first), the edge itself (no distance)
        self._base = np.concatenate([edges[:1], np.repeat(edges, 2)])

    def add(self, values: np.ndarray) -> None:
        """Count a batch: sorted, then cut at the edges (a binary search per edge, not per
        value, which is faster)."""
        values = np.sort(values)
        k = len(self.edges)
        cuts = np.empty(2 * k + 2, dtype=np.int64)
        cuts[0], cuts[-1] = 0, len(values)
        cuts[1:-1:2] = np.searchsorted(values, self.edges, side="left")
        cuts[2:-1:2] = np.searchsorted(values, self.edges, side="right")
        counts = np.diff(cuts)
        self.slots += counts
        slot = np.repeat(np.arange(2 * k + 1), counts)
        distance = np.abs(values - self._base[slot])
        self.distances += np.bincount(slot, weights=distance, minlength=2 * k + 1)

    def splice(self, cell: int, part: _Cells) -> _Cells:
        """These counts with open cell ``cell`` replaced by ``part``'s inner cells and edges
        (``part``: the counts of that cell's values on its two ends and new edges between)."""
        out = _Cells(np.concatenate([self.edges[: cell - 1], part.edges, self.edges[cell + 1 :]]))
        out.slots = np.concatenate(
            [self.slots[: 2 * cell], part.slots[2:-2], self.slots[2 * cell + 1 :]]
        )
        out.distances = np.concatenate(
            [self.distances[: 2 * cell], part.distances[2:-2], self.distances[2 * cell + 1 :]]
        )
        return out


class _Reservoir:
    """A uniform sample of ``size`` values: those drawing the smallest random priorities."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.values = np.empty(0)
        self.priorities = np.empty(0)

    def add(self, values: np.ndarray) -> None:
        priorities = self.rng.random(len(values))
        if len(self.values) == self.size:
            keep = priorities < self.priorities.max()
            values, priorities = values[keep], priorities[keep]
        values = np.concatenate([self.values, values])
        priorities = np.concatenate([self.priorities, priorities])
        if len(values) > self.size:
            chosen = np.argpartition(priorities, self.size - 1)[: self.size]
            values, priorities = values[chosen], priorities[chosen]
        self.values, self.priorities = values, priorities


class _Counter:
    """Exact value counts of a column, batch by batch (merged in Arrow every few batches)."""

    def __init__(self) -> None:
        self.parts: list[Any] = []

    def add(self, array: Any) -> None:
        import pyarrow.compute as pc

        counted = pc.value_counts(array)
        self.parts.append((counted.field("values"), counted.field("counts")))
        if len(self.parts) >= MERGE_EVERY:
            self.parts = [self._merged()]

    def _merged(self) -> tuple[Any, Any]:
        import pyarrow as pa

        values = pa.concat_arrays([v for v, _ in self.parts])
        counts = pa.concat_arrays([c for _, c in self.parts])
        table = pa.table({"v": values, "c": counts}).group_by("v").aggregate([("c", "sum")])
        return table.column("v").combine_chunks(), table.column("c_sum").combine_chunks()

    def counts(self) -> dict[Any, int]:
        if not self.parts:
            return {}
        values, counts = self._merged()
        return dict(zip(values.to_pylist(), counts.to_pylist(), strict=True))


@dataclass
class _Summary:
    """One column of one side, as far as drift needs it."""

    kind: str
    rows: int = 0
    present: int = 0  # finite numbers, or non-null categories
    mean: float = 0.0  # in units of scale
    m2: float = 0.0  # sum of squared deviations from the mean, in units of scale squared
    scale: float = 1.0  # a power of two: values beyond 1e150 would overflow when squared
    low: float = math.inf
    high: float = -math.inf
    cells: _Cells | None = None
    deciles: np.ndarray | None = None
    sample: _Reservoir | None = None
    counter: _Counter = field(default_factory=_Counter)

    @property
    def missing(self) -> float:
        return 1 - self.present / self.rows if self.rows else 0.0

    @property
    def std(self) -> float:
        spread = math.sqrt(self.m2 / self.present) if self.high > self.low else 0.0
        return spread * self.scale

    def add(self, array: Any, moments: bool = False) -> np.ndarray | None:
        import pyarrow as pa

        self.rows += len(array)
        if self.kind == "categorical":
            if pa.types.is_dictionary(array.type):
                array = array.cast(array.type.value_type)
            self.present += len(array) - array.null_count
            self.counter.add(array.drop_null())
            return None
        values = _floats(array)
        n = len(values)
        if n:
            self.low = min(self.low, float(values.min()))
            self.high = max(self.high, float(values.max()))
            if moments:  # Chan et al.'s merge of two (count, mean, squared deviations)
                largest = max(abs(self.low), abs(self.high))
                if largest / self.scale > 1e150:  # rescaling by powers of two is exact
                    scale = 2.0 ** math.ceil(math.log2(largest))
                    self.mean *= self.scale / scale
                    self.m2 *= (self.scale / scale) ** 2
                    self.scale = scale
                scaled = values / self.scale if self.scale != 1.0 else values
                mean = float(scaled.mean())
                m2 = float(np.square(scaled - mean).sum())
                total = self.present + n
                delta = mean - self.mean
                self.m2 += m2 + delta * delta * self.present * n / total
                self.mean += delta * n / total
        self.present += n
        return values


# -- passes -----------------------------------------------------------------------------


def _reference(
    source: _Source, kinds: Mapping[str, str], batch_rows: int, resolution: int, spill: Path
) -> dict[str, _Summary]:
    out = {n: _Summary(kind) for n, kind in kinds.items()}
    numeric = [n for n, kind in kinds.items() if kind == "numeric"]
    for seed, name in enumerate(numeric):
        out[name].sample = _Reservoir(SAMPLE_PER_CELL * resolution, seed)
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
        source = _Source(source.side, None, dataset=ds.dataset(spill / "reference.parquet"))
    present, counted = [n for n in numeric if out[n].present], []
    for name in present:
        summary = out[name]
        assert summary.sample is not None
        sample = np.sort(summary.sample.values)
        whole = len(sample) == summary.present
        summary.cells = _Cells(_grid(sample, resolution, summary.low, summary.high, whole))
        summary.sample = None
        if whole:  # every value in hand: counted now, no pass
            summary.cells.add(sample)
            counted.append(name)
    rest = [n for n in present if n not in counted]
    for batch in source.batches(rest, batch_rows) if rest else ():
        for name in rest:
            cells = out[name].cells
            assert cells is not None
            cells.add(_floats(batch.column(name)))
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
    source: _Source, kinds: Mapping[str, str], reference: Mapping[str, _Summary], batch_rows: int
) -> dict[str, _Summary]:
    out = {n: _Summary(kind) for n, kind in kinds.items()}
    for name, summary in out.items():
        ref = reference.get(name)
        if summary.kind == "numeric" and ref is not None and ref.cells is not None:
            summary.cells = _Cells(ref.cells.edges)
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


def _exact_deciles(source: _Source, columns: Mapping[str, _Summary], batch_rows: int) -> None:
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
    source: _Source, groups: Mapping[tuple[str, int, int], list[_Target]], batch_rows: int
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
            values = _floats(batch.column(name))
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
    source: _Source,
    columns: Mapping[str, _Summary],
    found: Mapping[str, set[float]],
    whole: Mapping[tuple[str, int], np.ndarray],
    batch_rows: int,
) -> None:
    """Add the decile values to the grids' edges, splitting the cells that held them (from
    their collected values, or from one more pass when a cell was too big to collect)."""
    parts: dict[tuple[str, int], _Cells] = {}
    for name, summary in columns.items():
        cells = summary.cells
        assert cells is not None
        summary.deciles = np.array(sorted(found[name]))
        inner = summary.deciles[~np.isin(summary.deciles, cells.edges)]
        for cell in np.unique(np.searchsorted(cells.edges, inner)).tolist():
            cut = inner[np.searchsorted(cells.edges, inner) == cell]
            part = _Cells(
                np.concatenate([cells.edges[cell - 1 : cell], cut, cells.edges[cell:][:1]])
            )
            if (name, cell) in whole:  # the cell's values are in hand
                part.add(whole[(name, cell)])
            parts[(name, cell)] = part
    pending = {key: part for key, part in parts.items() if key not in whole}
    names = sorted({name for name, _ in pending})
    for batch in source.batches(names, batch_rows) if names else ():
        for name in names:
            values = _floats(batch.column(name))
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


def _numeric_stats(ref: _Summary, cur: _Summary) -> dict[str, float]:
    """Every statistic of :func:`numeric_stats` from the two sides' counts on one grid, with
    the KS and Wasserstein error bounds (module docstring)."""
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
    p_ref, p_cur = _shares(_bins(r, ref.deciles, n)), _shares(_bins(c, ref.deciles, m))
    scale = ref.std if ref.std > 0 else (abs(ref.low) or 1.0)  # constant: low is the mean
    stats = {
        "ks": ks,
        "ks_p_value": ks_p_value(ks, n, m),
        "wasserstein": wasserstein,
        "wasserstein_norm": wasserstein / scale,
        "psi": _psi(p_ref, p_cur),
        "jensenshannon": _js(p_ref, p_cur),
        "ks_error": ks_error,
        "wasserstein_error": error,
    }
    return {key: float(value) for key, value in stats.items()}


def _wasserstein(
    r: _Cells, c: _Cells, n: int, m: int, gaps: tuple[np.ndarray, ...]
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


def _bins(cells: _Cells, deciles: np.ndarray, total: int) -> np.ndarray:
    """Counts in :func:`drift`'s decile bins ``(-inf, d1), [d1, d2), ..., [d9, inf)``."""
    below = np.cumsum(cells.slots)[2 * np.searchsorted(cells.edges, deciles)]
    out: np.ndarray = np.diff(np.concatenate([[0], below, [total]]))
    return out


def _distribution(ref: _Summary, cur: _Summary) -> dict[str, list[Any]]:
    assert ref.deciles is not None
    bounds = [min(ref.low, cur.low), *ref.deciles.tolist(), max(ref.high, cur.high)]
    labels = [f"{_short(a)} to {_short(b)}" for a, b in itertools.pairwise(bounds)]
    shares = []
    for side in (ref, cur):
        assert side.cells is not None
        shares.append((_bins(side.cells, ref.deciles, side.present) / side.present).tolist())
    return {"bins": labels, "reference": shares[0], "current": shares[1]}


def _compare(
    name: str,
    ref: _Summary | None,
    cur: _Summary | None,
    method: str | None,
    threshold: float | None,
) -> FeatureDrift:
    """:func:`drift`'s verdict on the streamed summaries."""
    unjudged = _unjudgeable(name, ref, cur)
    if unjudged is not None:
        return unjudged
    assert ref is not None and cur is not None
    if ref.kind == "numeric":
        stats = _numeric_stats(ref, cur)
        distribution = _distribution(ref, cur)
    else:
        counts_r, counts_c = ref.counter.counts(), cur.counter.counts()
        stats = categorical_stats(counts_r, counts_c)
        distribution = _categorical_distribution(counts_r, counts_c)
    constant = ref.kind == "numeric" and ref.std == 0
    return _judge(name, ref, cur, stats, distribution, method, threshold, constant)

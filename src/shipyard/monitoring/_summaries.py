"""What :func:`drift_stream` keeps of a column as its batches pass: counts on a grid, a
reservoir sample, exact value counts, and the moments."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.monitoring._batches import finite_floats

__all__ = ["Cells", "Reservoir", "Summary", "ValueCounter"]

MERGE_EVERY = 32  # batches of value counts kept before merging them


class Cells:
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

    def splice(self, cell: int, part: Cells) -> Cells:
        """These counts with open cell ``cell`` replaced by ``part``'s inner cells and edges
        (``part``: the counts of that cell's values on its two ends and new edges between)."""
        out = Cells(np.concatenate([self.edges[: cell - 1], part.edges, self.edges[cell + 1 :]]))
        out.slots = np.concatenate(
            [self.slots[: 2 * cell], part.slots[2:-2], self.slots[2 * cell + 1 :]]
        )
        out.distances = np.concatenate(
            [self.distances[: 2 * cell], part.distances[2:-2], self.distances[2 * cell + 1 :]]
        )
        return out


class Reservoir:
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


class ValueCounter:
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
class Summary:
    """One column of one side, as far as drift needs it."""

    kind: str
    rows: int = 0
    present: int = 0  # finite numbers, or non-null categories
    mean: float = 0.0  # in units of scale
    m2: float = 0.0  # sum of squared deviations from the mean, in units of scale squared
    scale: float = 1.0  # a power of two: values beyond 1e150 would overflow when squared
    low: float = math.inf
    high: float = -math.inf
    cells: Cells | None = None
    deciles: np.ndarray | None = None
    sample: Reservoir | None = None
    counter: ValueCounter = field(default_factory=ValueCounter)

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
        values = finite_floats(array)
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

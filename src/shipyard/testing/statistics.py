"""The contract of a drift statistic: the checks every entry of the statistics table passes.

``check_statistic(entry)`` runs them all; each ``check_*`` function is one check, named in
``CHECKS`` so a test can parametrize over (entry, check)::

    @pytest.mark.parametrize("entry", STATISTICS, ids=lambda s: s.name)
    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_statistic_contract(entry, check):
        check(entry)

A new statistic (one entry in ``shipyard.monitoring._statistics.STATISTICS``) is checked by
the same test without a line of its own: its fields are coherent; a sample against itself
gives the values it declares (no drift); it is symmetric where it says so; it stays finite
on constant, one-value and one-category windows; ``drift_stream`` gives what ``drift``
gives, within the bound the entry states; and judged by it, two samples of one distribution
do not drift even where sampling alone puts it far past its threshold, while a clear shift
does. Each check raises AssertionError naming what
failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.monitoring import drift, drift_stream
from shipyard.monitoring._inputs import Inputs, categorical_inputs, decile_edges, numeric_inputs
from shipyard.monitoring._statistics import KINDS, STATISTICS, DriftStatistic

__all__ = [
    "CHECKS",
    "STATISTICS",
    "check_agrees_with_drift_stream",
    "check_fields",
    "check_finite_on_odd_windows",
    "check_identical_samples",
    "check_statistic",
    "check_symmetric",
    "check_tells_drift_from_noise",
]

COLUMN = "x"


def _sample(kind: str, rows: int, seed: int, shift: float = 0.0) -> Any:
    """A column of ``rows`` values: normal numbers, or categories with skewed shares."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    if kind == "numeric":
        return pd.DataFrame({COLUMN: rng.normal(shift, 1.0 + shift, rows)})
    shares = np.array([0.4, 0.3, 0.2, 0.1]) + shift * np.array([-0.2, 0.0, 0.1, 0.1])
    drawn = rng.choice(["north", "south", "east", "west"], rows, p=shares / shares.sum())
    return pd.DataFrame({COLUMN: drawn})


def _stats(reference: Any, current: Any, method: str | None = None) -> tuple[Any, Any]:
    """drift's report of the one column (its stats, and the feature)."""
    report = drift(reference, current, methods={COLUMN: method} if method else None)
    feature = report.features[0]
    return feature.stats, feature


def check_fields(entry: DriftStatistic) -> None:
    """The entry's fields agree with each other and with the table."""
    names = [s.name for s in STATISTICS]
    assert names.count(entry.name) <= 1, f"{entry.name}: two entries share the name"
    assert entry.kinds and set(entry.kinds) <= set(KINDS), f"{entry.name}: kinds {entry.kinds}"
    assert entry.deciding_key in entry.keys, f"{entry.name}: {entry.deciding_key} not in keys"
    assert len(entry.identical) == len(entry.keys), f"{entry.name}: identical per key"
    assert entry.threshold >= 0 and math.isfinite(entry.threshold), entry.name
    assert entry.streamed in ("exact", "bounded"), f"{entry.name}: streamed {entry.streamed!r}"
    assert entry.label, f"{entry.name}: a label for reports"
    others = {k for s in STATISTICS if s.name != entry.name for k in s.keys}
    assert not others & set(entry.keys), f"{entry.name}: keys taken by another entry"


def check_identical_samples(entry: DriftStatistic) -> None:
    """A sample against itself gives the declared values (zero distance, p-value 1) and,
    judged by this statistic, no drift."""
    for kind in entry.kinds:
        sample = _sample(kind, 2000, seed=1)
        stats, feature = _stats(sample, sample, entry.name if entry.judging else None)
        for key, want in zip(entry.keys, entry.identical, strict=True):
            assert math.isclose(stats[key], want, abs_tol=1e-9), f"{entry.name} {kind}: {key}"
        if entry.judging:
            assert not feature.drifted, f"{entry.name} {kind}: a sample drifts from itself"


def _inputs(kind: str, seed: int) -> Inputs:
    reference, current = _sample(kind, 500, seed), _sample(kind, 700, seed + 1, shift=0.3)
    if kind == "numeric":
        a = np.sort(reference[COLUMN].to_numpy())
        b = np.sort(current[COLUMN].to_numpy())
        return numeric_inputs(a, b, decile_edges(a), float(np.std(a)))
    counts = [frame[COLUMN].value_counts().to_dict() for frame in (reference, current)]
    return categorical_inputs(counts[0], counts[1])


def check_symmetric(entry: DriftStatistic) -> None:
    """Where the entry claims symmetry: the same values with the sides exchanged (the bins
    and the scale kept)."""
    if not entry.symmetric:
        return
    for kind in entry.kinds:
        for seed in (3, 4):
            inputs = _inputs(kind, seed)
            one, other = entry.compute(inputs), entry.compute(inputs.swapped())
            for key in entry.keys:
                assert math.isclose(one[key], other[key], rel_tol=1e-9, abs_tol=1e-12), (
                    f"{entry.name} {kind}: {key} {one[key]} != {other[key]} swapped"
                )


def _odd_windows(kind: str) -> list[tuple[list[Any], list[Any]]]:
    if kind == "numeric":
        return [
            ([5.0] * 40, [5.0] * 40),  # constant, the same
            ([5.0] * 40, [6.0] * 40),  # constant, moved
            ([0.0] * 40, [0.0] * 3 + [1.0]),  # constant zero: no spread, no mean
            ([1.0], [2.0]),  # one value a side
            ([1.0, 2.0], [2.0, 2.0, 3.0]),
            ([1e300, -1e300, 0.0], [1e300, 1e300]),  # huge values
        ]
    return [
        (["a"] * 40, ["a"] * 40),  # one category
        (["a"] * 40, ["b"] * 40),  # one category each, different
        (["a"], ["b"]),
        (["a", "b"], ["b", "c", "c"]),
    ]


def check_finite_on_odd_windows(entry: DriftStatistic) -> None:
    """Finite values on constant, one-value, two-value and one-category windows."""
    import pandas as pd

    for kind in entry.kinds:
        for reference, current in _odd_windows(kind):
            stats, _ = _stats(pd.DataFrame({COLUMN: reference}), pd.DataFrame({COLUMN: current}))
            for key in entry.keys:
                assert math.isfinite(stats[key]), (
                    f"{entry.name}: {key} is {stats[key]} for {reference[:3]} vs {current[:3]}"
                )


def check_agrees_with_drift_stream(entry: DriftStatistic) -> None:
    """drift_stream's values are within the entry's stated bound of drift's (equal for an
    exact entry), on windows too large for its grid to hold every value."""
    for kind in entry.kinds:
        for shift in (0.0, 0.3):
            reference = _sample(kind, 20_000, seed=5)
            current = _sample(kind, 15_000, seed=6, shift=shift)
            exact, _ = _stats(reference, current)
            report = drift_stream(reference, current, batch_rows=4096, resolution=64)
            streamed, feature = report.features[0].stats, report.features[0]
            n = round(feature.reference_rows * (1 - feature.reference_missing))
            m = round(feature.current_rows * (1 - feature.current_missing))
            for key in entry.keys:
                bound = entry.stream_bound(streamed, key, n, m)
                if entry.streamed == "exact":
                    assert bound == 0.0, f"{entry.name}: exact, yet bound {bound} for {key}"
                gap = abs(streamed[key] - exact[key])
                slack = 1e-9 * max(1.0, abs(exact[key]))
                assert gap <= bound + slack, (
                    f"{entry.name} {kind} shift {shift}: {key} streamed {streamed[key]} vs "
                    f"{exact[key]}, beyond its bound {bound}"
                )


def _noisy(kind: str, rows: int, seed: int) -> Any:
    """A sample whose distances to another sample of its distribution are large by chance:
    1,000 equally likely categories (2.5 rows each), or heavy-tailed numbers."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    if kind == "numeric":
        return pd.DataFrame({COLUMN: rng.standard_t(2, rows)})
    return pd.DataFrame({COLUMN: rng.integers(0, 1000, rows).astype(str)})


def check_tells_drift_from_noise(entry: DriftStatistic) -> None:
    """Judged by the entry: no drift between two samples of one distribution, on a small and
    on a larger window (where its value may be far past the threshold by sampling alone:
    its ``beyond_noise`` must say so), and drift on a clear shift."""
    if not entry.judging:
        return
    for kind in entry.kinds:
        for rows in (800, 2500):
            _, feature = _stats(_noisy(kind, rows, 7), _noisy(kind, rows, 8), entry.name)
            assert not feature.drifted, f"{entry.name} {kind}: alarm on noise ({feature.rule})"
        _, feature = _stats(_sample(kind, 5000, 5), _sample(kind, 5000, 6, 1.0), entry.name)
        assert feature.drifted, f"{entry.name} {kind}: a clear shift missed ({feature.rule})"


CHECKS: tuple[Callable[[DriftStatistic], None], ...] = (
    check_fields,
    check_identical_samples,
    check_symmetric,
    check_finite_on_odd_windows,
    check_agrees_with_drift_stream,
    check_tells_drift_from_noise,
)


def check_statistic(entry: DriftStatistic) -> None:
    """Every check of ``CHECKS`` on one entry (raises AssertionError at the first failure)."""
    for check in CHECKS:
        check(entry)

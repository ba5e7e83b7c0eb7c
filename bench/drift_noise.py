"""Drift verdicts on sampling noise: false alarms and detection power, over many seeds.

Run by hand (``tests/monitoring/test_drift_noise.py`` runs a few seeds of the same tables):

    python bench/drift_noise.py                   # every size, ~15 minutes on 2 cores
    python bench/drift_noise.py --quick           # fewer seeds, sizes up to 100,000 (~2 min)
    python bench/drift_noise.py --sizes 5000,20000 --seeds 200

False alarms: two independent samples of one distribution, for every column kind of
:func:`columns` (normal, heavy-tailed, log-normal, zero-inflated, small integers, 3 to 5,000
categories with flat and Zipf shares, half missing), at each window size; the share of
(seed, column) pairs judged drifted per kind, and the share of seeds whose dataset verdict
was drifted. Goals: at most the stated α (0.05) at small windows (at most 1,000 values a
side; with half missing, a column has half the window's values), under 1% at larger ones,
and no dataset-level alarm. With 100 seeds a kind's share at 0.05 spreads from about 1% to
9% by chance: the ``all kinds`` row is the figure to hold against α.

Power: the same tables with one change each (``SHIFTS``); the share of seeds in which the
changed column is found drifted, per size.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

SIZES = (500, 1_000, 2_000, 5_000, 20_000, 100_000, 1_000_000)
QUICK_SIZES = (500, 1_000, 5_000, 20_000, 100_000)


def _categories(k: int, zipf: bool) -> np.ndarray:
    shares = 1 / np.arange(1, k + 1) if zipf else np.ones(k)
    return shares / shares.sum()


def _labels(rng: np.random.Generator, shares: np.ndarray, rows: int) -> pa.Array:
    codes = rng.choice(len(shares), rows, p=shares)
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array([f"c{i}" for i in range(len(shares))])
    )


def _half_missing(rng: np.random.Generator, values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=rng.uniform(size=len(values)) < 0.5)


COLUMNS: dict[str, Callable[[np.random.Generator, int], pa.Array]] = {
    "normal": lambda rng, n: pa.array(rng.normal(0, 1, n)),
    "heavy_tailed": lambda rng, n: pa.array(rng.standard_t(2, n)),
    "log_normal": lambda rng, n: pa.array(rng.lognormal(3, 1.5, n)),
    "zero_inflated": lambda rng, n: pa.array(
        np.where(rng.uniform(size=n) < 0.7, 0.0, rng.lognormal(2, 1, n))
    ),
    "small_integers": lambda rng, n: pa.array(rng.poisson(2, n)),
    "half_missing": lambda rng, n: _half_missing(rng, rng.normal(0, 1, n)),
    "cat_3_flat": lambda rng, n: _labels(rng, _categories(3, False), n),
    "cat_50_zipf": lambda rng, n: _labels(rng, _categories(50, True), n),
    "cat_1000_flat": lambda rng, n: _labels(rng, _categories(1000, False), n),
    "cat_1000_zipf": lambda rng, n: _labels(rng, _categories(1000, True), n),
    "cat_5000_flat": lambda rng, n: _labels(rng, _categories(5000, False), n),
    "cat_5000_zipf": lambda rng, n: _labels(rng, _categories(5000, True), n),
    "cat_half_missing": lambda rng, n: pa.array(
        _labels(rng, _categories(200, False), n).dictionary_decode(),
        mask=rng.uniform(size=n) < 0.5,
    ),
}


def columns(rng: np.random.Generator, rows: int) -> pa.Table:
    """One window: every column kind, drawn independently."""
    return pa.table({name: make(rng, rows) for name, make in COLUMNS.items()})


def _moved(rng: np.random.Generator, n: int, shares: list[float]) -> pa.Array:
    return _labels(rng, np.array(shares), n)


# (name, reference column, current column): the current window moves by a known amount
SHIFTS: dict[str, tuple[Callable[..., pa.Array], Callable[..., pa.Array]]] = {
    "normal mean +0.1 sd": (
        lambda rng, n: pa.array(rng.normal(0, 1, n)),
        lambda rng, n: pa.array(rng.normal(0.1, 1, n)),
    ),
    "normal mean +0.25 sd": (
        lambda rng, n: pa.array(rng.normal(0, 1, n)),
        lambda rng, n: pa.array(rng.normal(0.25, 1, n)),
    ),
    "log-normal log-mean +0.2": (
        lambda rng, n: pa.array(rng.lognormal(3, 1, n)),
        lambda rng, n: pa.array(rng.lognormal(3.2, 1, n)),
    ),
    "3 levels, 5-point move": (
        lambda rng, n: _moved(rng, n, [0.5, 0.3, 0.2]),
        lambda rng, n: _moved(rng, n, [0.45, 0.3, 0.25]),
    ),
    "3 levels, 10-point move": (
        lambda rng, n: _moved(rng, n, [0.5, 0.3, 0.2]),
        lambda rng, n: _moved(rng, n, [0.4, 0.3, 0.3]),
    ),
    "1,000 flat, 20% of rows to 10 levels": (
        lambda rng, n: _labels(rng, _categories(1000, False), n),
        lambda rng, n: _labels(
            rng, 0.8 * _categories(1000, False) + 0.2 * np.eye(1000)[:10].sum(0) / 10, n
        ),
    ),
}


def false_alarms(sizes: tuple[int, ...], seeds: int) -> None:
    from shipyard import monitoring

    kinds = list(COLUMNS)
    print(f"false alarms: share of (seed, column) judged drifted; {seeds} seeds (fewer at 1M)")
    print(f"{'kind':<18}" + "".join(f"{n:>10,}" for n in sizes))
    table: dict[str, list[str]] = {k: [] for k in kinds}
    datasets, worst, mean, rules = [], [], [], []
    for rows in sizes:
        runs = seeds if rows <= 100_000 else max(seeds // 10, 5)
        alarms = dict.fromkeys(kinds, 0)
        dataset = 0
        started = time.perf_counter()
        for seed in range(runs):
            rng = np.random.default_rng([rows, seed])
            report = monitoring.drift(columns(rng, rows), columns(rng, rows))
            dataset += report.drifted
            for f in report.features:
                alarms[f.feature] += f.drifted
                if f.drifted:
                    rules.append(f"{rows}: {f.feature}: {f.rule}")
        for k in kinds:
            table[k].append(f"{alarms[k] / runs:>10.1%}")
        datasets.append(f"{dataset}/{runs}".rjust(10))
        worst.append(f"{max(alarms.values()) / runs:>10.1%}")
        mean.append(f"{sum(alarms.values()) / runs / len(kinds):>10.1%}")
        print(f"  ({rows:,} rows: {runs} seeds in {time.perf_counter() - started:.0f} s)")
    for k in kinds:
        print(f"{k:<18}" + "".join(table[k]))
    print(f"{'all kinds':<18}" + "".join(mean))
    print(f"{'worst kind':<18}" + "".join(worst))
    print(f"{'dataset alarms':<18}" + "".join(datasets))
    for line in rules[:10]:
        print("  alarm:", line)


def power(sizes: tuple[int, ...], seeds: int) -> None:
    from shipyard import monitoring

    print(f"\npower: share of seeds in which the moved column is found drifted ({seeds} seeds)")
    print(f"{'change':<38}" + "".join(f"{n:>10,}" for n in sizes))
    for name, (before, after) in SHIFTS.items():
        cells = []
        example = ""
        for rows in sizes:
            runs = seeds if rows <= 100_000 else max(seeds // 10, 5)
            found = 0
            for seed in range(runs):
                rng = np.random.default_rng([rows, seed, 1])
                report = monitoring.drift(
                    pa.table({"x": before(rng, rows)}), pa.table({"x": after(rng, rows)})
                )
                found += report.features[0].drifted
                if rows == 20_000 and seed == 0:
                    example = report.features[0].rule
            cells.append(f"{found / runs:>10.0%}")
        print(f"{name:<38}" + "".join(cells))
        if example:
            print(f"{'':<4}at 20,000 rows: {example}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and sizes")
    parser.add_argument("--sizes", help="comma-separated window sizes (rows a side)")
    parser.add_argument("--seeds", type=int, help="seeds per size (a tenth at 1,000,000)")
    parser.add_argument("--no-power", action="store_true")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    seeds = args.seeds or (40 if args.quick else 200)
    false_alarms(sizes, seeds)
    if not args.no_power:
        power(sizes, max(seeds // 4, 10))


if __name__ == "__main__":
    main(sys.argv[1:])

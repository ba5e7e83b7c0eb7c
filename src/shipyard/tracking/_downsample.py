"""A long metric series cut to what a chart can show, keeping its shape.

A chart 1,000 pixels wide cannot show 100,000 points; sending them all costs megabytes and
seconds. :func:`downsample` splits the series into equal buckets by position and keeps, in
each, the points with the lowest and the highest value (in their order), plus the first and
last point of the series: spikes and dips survive, which averaging or every-n-th sampling
would hide. Written here rather than taken from a library: the only candidates (LTTB
packages) keep one point per bucket, which drops one side of a spike, and pull in a
compiled dependency for twenty lines of NumPy.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = ["downsample"]


def downsample(values: Sequence[float] | np.ndarray, max_points: int) -> np.ndarray:
    """The indices (ascending) of at most ``max_points`` points of ``values`` that keep
    each bucket's minimum and maximum, and the first and last point; every index when
    the series is short enough. NaNs are never chosen over a number in their bucket.

    Example:
        >>> downsample([0, 5, 1, 1, 1, 1, -3, 0], 4).tolist()
        [0, 1, 6, 7]
    """
    if max_points < 2:
        raise ValueError(f"max_points: expected at least 2, got {max_points}")
    data = np.asarray(values, dtype=float)
    n = len(data)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, (max_points - 2) // 2)
    edges = np.linspace(1, n - 1, buckets + 1).astype(int)
    inner = data[1 : n - 1]
    filled_low = np.where(np.isnan(inner), np.inf, inner)
    filled_high = np.where(np.isnan(inner), -np.inf, inner)
    keep = [0, n - 1]
    for start, stop in itertools.pairwise(edges):
        if stop <= start:
            continue
        low = slice(start - 1, stop - 1)  # positions in ``inner``
        keep.append(start + int(np.argmin(filled_low[low])))
        keep.append(start + int(np.argmax(filled_high[low])))
    return np.unique(np.asarray(keep))

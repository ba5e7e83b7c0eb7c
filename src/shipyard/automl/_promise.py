"""Time shared between families by promise: which family the next trial searches.

After the start points (cheap starts, portfolio), each trial's family is the one with the
lowest estimated cost of an improvement: its time per trial, times how many of its trials
have gone by since its best last improved, times how far its best is behind the overall
best (1 for the family ahead, up to 5 for the family furthest behind, and for a family
with no complete trial). The family ahead keeps getting trials while it improves; a family
that stalls, or is far behind, or is slow, gets fewer, but none is starved. The sampler
then fills the family's hyper-parameters. (In the spirit of FLAML's "estimated cost for
improvement", Wang et al. 2021, simplified.)

With ``n_trials`` a search is meant to be repeatable, so time per trial is the family's
static ``cost`` rank instead of a measured, machine-dependent one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from shipyard.automl._families import get_family

__all__ = ["next_family"]


def next_family(found: Sequence[Any], families: list[str], lower: bool, measured: bool) -> str:
    """The family with the lowest estimated cost of an improvement, given the trials
    ``found`` so far (Optuna trials, in order; ``lower``: smaller scores are better;
    ``measured``: time per trial from the trials' durations, else from the family's cost)."""
    sign = 1.0 if lower else -1.0  # sign * value: smaller is better
    tried = {f: [t for t in found if t.params.get("family") == f] for f in families}
    for family, mine in tried.items():
        if not mine:
            return family  # never tried: try it now
    bests = {f: _best(mine, sign) for f, mine in tried.items()}
    scored = [b for b in bests.values() if b is not None]
    top, worst = (min(scored), max(scored)) if scored else (0.0, 0.0)
    estimates = {}
    for family, mine in tried.items():
        best = bests[family]
        behind = 5.0 if best is None else 1.0 + 4.0 * (best - top) / ((worst - top) or 1.0)
        estimates[family] = _cost(mine, family, measured) * _stall(mine, sign) * behind
    return min(families, key=lambda f: estimates[f])  # ties: the first listed


def _cost(mine: list[Any], family: str, measured: bool) -> float:
    """Seconds per trial of the family (its pruned trials make it cheaper), or its rank."""
    if measured:
        taken = [_seconds(t) for t in mine]
        taken = [s for s in taken if not math.isnan(s)]
        if taken:
            return max(float(np.mean(taken)), 1e-3)
    return float(get_family(family).cost + 1)


def _stall(mine: list[Any], sign: float) -> float:
    """1 + the family's trials since its best (running and pruned ones included)."""
    scored = [(i, sign * t.value) for i, t in enumerate(mine) if t.state.name == "COMPLETE"]
    if not scored:
        return 1.0 + len(mine)
    at = min(scored, key=lambda p: (p[1], p[0]))[0]
    return 1.0 + (len(mine) - 1 - at)


def _best(mine: list[Any], sign: float) -> float | None:
    """The family's best complete score, smaller better (None: no complete trial)."""
    scored = [sign * t.value for t in mine if t.state.name == "COMPLETE"]
    return min(scored) if scored else None


def _seconds(trial: Any) -> float:
    if trial.datetime_complete is None or trial.datetime_start is None:
        return math.nan
    return float((trial.datetime_complete - trial.datetime_start).total_seconds())

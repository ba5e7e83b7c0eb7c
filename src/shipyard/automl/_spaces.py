"""A search's trials over the family table: the families searched, each trial's estimator,
the cheap starts and the grid (the families themselves are in ``_families.py``)."""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd

from shipyard.automl._families import FAMILIES, FAMILY_TABLE, get_family
from shipyard.automl._problem import build_pipeline, encoding_for

__all__ = ["FAMILIES", "cheap_starts", "grid_points", "make_pipeline", "start_points", "suggest"]


def suggest(trial: Any, family: str, task: str, seed: int) -> Any:
    """An unfitted estimator of ``family`` with hyper-parameters the trial suggests."""
    entry = get_family(family)
    assert entry.space is not None, f"{family} is not searched"
    return entry.estimator(task, seed).set_params(**entry.space(trial, task))


def _by_cost(families: list[str]) -> list[str]:
    searched = sorted((f for f in FAMILY_TABLE.values() if f.searched), key=lambda f: f.cost)
    return [f.name for f in searched if f.name in families]


def cheap_starts(families: list[str], task: str) -> list[dict[str, Any]]:
    """The first trials of a search over ``families``: a cheap configuration of each,
    cheapest families first."""
    return [{"family": name, **FAMILY_TABLE[name].cheap_start(task)} for name in _by_cost(families)]


def start_points(families: list[str], task: str, portfolio: int) -> list[dict[str, Any]]:
    """The trials a search starts with: the cheap starts, then the first ``portfolio``
    configurations of each family's portfolio, interleaved across families, cheapest
    first (a short budget sees each family's strongest before its next ones)."""
    per_family = [
        [{"family": name, **p} for p in FAMILY_TABLE[name].portfolio(task)[:portfolio]]
        for name in _by_cost(families)
    ]
    rounds = itertools.zip_longest(*per_family)
    return cheap_starts(families, task) + [p for group in rounds for p in group if p is not None]


def grid_points(families: list[str], task: str) -> list[dict[str, Any]]:
    """Every point of the coarse grid of ``families`` (the other parameters at their cheap
    start), interleaved across families so a short budget still sees them all."""
    starts = {start["family"]: start for start in cheap_starts(families, task)}
    per_family: list[list[dict[str, Any]]] = []
    for family in _by_cost(families):
        axes = dict(FAMILY_TABLE[family].grid(task))
        names = list(axes)
        points = [
            {**starts[family], **dict(zip(names, values, strict=True))}
            for values in itertools.product(*(axes[n] for n in names))
        ]
        per_family.append(points)
    return [p for group in itertools.zip_longest(*per_family) for p in group if p is not None]


def make_pipeline(params: dict[str, Any], task: str, seed: int, features: pd.DataFrame) -> Any:
    """The unfitted pipeline (preprocessing, estimator) of one trial's parameters."""
    import optuna

    model = suggest(optuna.trial.FixedTrial(params), str(params["family"]), task, seed)
    batch = model.get_params().get("batch_size")
    sklearn_mlp = type(model).__name__.startswith("MLP")
    # a fold has about half the rows or more
    if sklearn_mlp and isinstance(batch, int) and batch > len(features) // 2:
        model.set_params(batch_size="auto")  # scikit-learn would clip it, with a warning
    return build_pipeline(model, features, encoding_for("auto", model))

"""What an AutoML family is: :class:`Family`, one entry of the table in ``_families.py``.

A family knows how to build its estimator for a task, its search space (Optuna
suggestions), where a search starts (a cheap configuration, and a coarse grid), and what it
can do: tasks, missing values and categories handled natively, how a fit already running
stops at a deadline (``stop``), whether it prunes on validation curves, which optional
packages it needs. ``sy.train``, ``sy.automl`` and the CLI read the table; the contract
battery (``shipyard.testing.families``) checks every entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Family", "Stop"]

# How a fit of this family stops: (model, X, y, deadline or None, curve bar or None) -> None
# when it finished, else "deadline" or "pruned" (the model is then usable but cut short).
Stop = Callable[[Any, Any, Any, float | None, Sequence[float] | None], str | None]


def _no_params(task: str) -> dict[str, Any]:
    return {}


def _no_grid(task: str) -> dict[str, list[Any]]:
    return {}


def _no_portfolio(task: str) -> list[dict[str, Any]]:
    return []


@dataclass(frozen=True)
class Family:
    """One model family: its estimator, search space, cheap start and capabilities.

    Attributes:
        name: what users type (``sy.train("lightgbm")``, ``families=["lightgbm"]``).
        build: ``(task, seed) -> estimator`` with sensible defaults, unfitted.
        space: ``(trial, task) -> params`` suggested by an Optuna trial (parameter names
            ``<family>.<name>``), set on the estimator; None: not searched by ``sy.automl``.
        search_build: the estimator the search fits (default: ``build``).
        cheap_start: ``task -> trial params`` of the first, cheap configuration.
        grid: ``task -> {trial param: values}`` of ``sampler="grid"`` (others at the cheap
            start).
        portfolio: ``task -> [trial params, ...]``: strong configurations tried first, best
            first (a preset's ``portfolio`` says how many).
        cost: where the family's cheap start comes in a search, cheapest first.
        tasks: the tasks it builds estimators for.
        missing_values: its estimator takes missing values as they are.
        categories: its estimator takes category codes natively.
        estimators: class-name prefixes of its estimators (to find the family of a model).
        stop: how a fit already running stops at a deadline (None: it cannot; its fits are
            bounded by their own size).
        prunes_curves: its fits also stop on a validation curve worse than earlier trials'.
        needs: optional packages it needs (``torch``), checked by ``build``.
        max_rows: the most training rows it is searched on (None: any; k-nearest
            neighbours are for small data).

    Entries are immutable; their functions are pure and thread-safe. ``build`` raises
    InvalidInput when a needed package is missing.
    """

    name: str
    build: Callable[[str, int], Any]
    space: Callable[[Any, str], dict[str, Any]] | None = None
    search_build: Callable[[str, int], Any] | None = None
    cheap_start: Callable[[str], dict[str, Any]] = _no_params
    grid: Callable[[str], Mapping[str, list[Any]]] = _no_grid
    portfolio: Callable[[str], list[dict[str, Any]]] = _no_portfolio
    cost: int = 0
    tasks: tuple[str, ...] = ("classification", "regression")
    missing_values: bool = False
    categories: bool = False
    estimators: tuple[str, ...] = ()
    stop: Stop | None = None
    prunes_curves: bool = False
    needs: tuple[str, ...] = field(default=())
    max_rows: int | None = None

    @property
    def searched(self) -> bool:
        """Whether ``sy.automl`` searches it."""
        return self.space is not None

    def estimator(self, task: str, seed: int) -> Any:
        """What a search trial of this family fits, before the trial's parameters."""
        return (self.search_build or self.build)(task, seed)

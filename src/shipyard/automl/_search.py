"""Model search with Optuna: ``sy.automl`` over model families (``sy.tune`` is in ``_tune.py``).

Every trial is a child run of one tracked run (params, a score per fold, its state), scored by
cross-validation on the same folds, pruned after a fold when it is already worse than the
median trial there, and the search stops starting trials when the time budget is spent. The
best configuration is refitted on every row; with an ensemble (``_ensemble.py``), chosen from
the trials' out-of-fold predictions, its members too, and the ensemble is returned when it
beats the best single model. Either is ready to register.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard import data as datasets_api
from shipyard import tracking
from shipyard.automl._ensemble import (
    Ensemble,
    Selection,
    members_seconds,
    refit_estimates,
    refit_members,
    select,
)
from shipyard.automl._executors import check_executor, make_executor, one_thread
from shipyard.automl._families import FAMILY_TABLE, get_family, installed_package
from shipyard.automl._oof import OutOfFold
from shipyard.automl._presets import DEFAULT_PRESET, PRESETS, Preset, get_preset
from shipyard.automl._problem import (
    LOWER_IS_BETTER,
    check_metric,
    check_seed,
    check_target,
    clone_pipeline,
    make_splits,
    read_frame,
    split_target,
    task_of,
)
from shipyard.automl._report import leaderboard_figure, write_report
from shipyard.automl._spaces import FAMILIES, make_pipeline
from shipyard.automl._study import Progress, Search, best_trial, run_study, seconds, trials
from shipyard.automl._train import TrainResult, register_explained, registration_sample
from shipyard.errors import InvalidInput

__all__ = [
    "LOWER_IS_BETTER",
    "AutoMLResult",
    "automl",
    "check_counts",
    "default_metric",
    "load_optuna",
]


@dataclass
class AutoMLResult:
    """The best model of a search, its leaderboard and run; ``sy.models.register`` takes it."""

    best: TrainResult
    leaderboard: pd.DataFrame
    metric: str
    run_id: str
    ensemble: Ensemble | None = None  # the greedy ensemble tried, kept or not (None: none)

    def registration(self) -> dict[str, Any]:
        """What ``sy.models.register`` records: the best model with the search's lineage."""
        return {**self.best.registration(), "run": self.run_id}

    def register(self, name: str, **options: Any) -> Any:
        """Register the best model (``sy.models.register(name, self, **options)``), then
        record its global explanation (see :meth:`TrainResult.register`)."""
        return register_explained(name, self, options)

    def figure(self) -> Any:
        """The leaderboard as a plotly Figure: scores over time per family, best so far."""
        return leaderboard_figure(self.leaderboard, self.metric)

    def report(self, path: str | Path) -> Path:
        """Write the chart and the leaderboard as a static HTML page (it loads
        ``plotly.min.js``, written beside it)."""
        return write_report(self.leaderboard, self.metric, path, f"AutoML run {self.run_id}")


def automl(
    *,
    target: str,
    dataset: Any = None,
    data: pd.DataFrame | None = None,
    task: str | None = None,
    metric: str | None = None,
    time_budget: float = 60.0,
    n_trials: int | None = None,
    families: tuple[str, ...] | list[str] | None = None,
    folds: int = 3,
    sampler: str = "tpe",
    time_column: str | None = None,
    drop: tuple[str, ...] | list[str] = (),
    seed: int = 0,
    experiment: str = "automl",
    presets: str = DEFAULT_PRESET,
    ensemble: int | None = None,
    executor: str = "auto",
    workers: int | None = None,
    address: str | None = None,
    progress: Progress | None = None,
) -> AutoMLResult:
    """Search model families and their hyper-parameters; return the best, refitted.

    Args:
        target: the column to predict; ``dataset`` (``"loans@3"``) or ``data`` (DataFrame).
        task: ``classification`` or ``regression``; inferred from the target.
        metric: what to optimise: ``auc`` (binary default), ``accuracy`` (multiclass
            default), ``f1``, ``log_loss``, ``rmse`` (regression default), ``mae``, ``r2``.
        time_budget: seconds for the whole search, refit included; trials stop starting
            when it is spent.
        n_trials: stop after this many trials (with a seed, the same leaderboard each time).
        families: which of linear, random_forest, hist_gradient_boosting, lightgbm, xgboost,
            mlp, catboost, extra_trees, knn to search (default: all installed).
        folds: cross-validation folds per trial (time-ordered with ``time_column``).
        sampler: ``tpe`` (default), ``random``, or ``grid`` (a coarse grid over each
            family's main hyper-parameters, families in turn; the search ends when the grid
            is done).
        presets: ``best`` (default: an ensemble of the trials when it scores better than
            the best one alone) or ``fast`` (the best single model: quicker to predict
            with, less memory).
        ensemble: at most this many distinct trials in the ensemble (None: the preset's;
            0: none). The ensemble is chosen greedily from the trials' out-of-fold
            predictions (Caruana et al. 2004), a weighted soft vote (a weighted mean for
            regression) of their pipelines, and kept when its cross-validated score beats
            the best single trial's; its members are refitted within the budget.
        executor: where folds are fitted: ``auto`` (default: ``processes`` with a worker per
            usable core, 2 or more, for 30 s or more without ``n_trials``; else ``local``),
            ``local``, ``processes`` (``workers`` of them) or ``ray`` (at ``address``).
        progress: called after each trial with (trials done, best score, seconds left).

    Raises:
        InvalidInput: bad target, metric, family, sampler, budget, trials, folds, seed,
            ensemble or executor (named), before anything is read or tracked.
    """
    started = time.monotonic()  # the budget counts from the call: reading data included
    chosen = _chosen(families, sampler, time_budget)
    preset = _checked(n_trials, folds, ensemble, seed, executor, workers, presets)
    optuna = load_optuna()
    frame, ref = read_frame(dataset, data)
    features, y = split_target(frame, target, drop)
    task = task or task_of(None, y)
    check_target(features, y, target, task)
    metric = metric or default_metric(task, y)
    check_metric(metric, task)
    chosen = _chosen(families, sampler, time_budget, rows=len(y))
    splits = make_splits(features, y, task, "kfold", 0.2, folds, time_column, seed)
    search = Search(chosen, splits, task, metric, sampler, seed, n_trials, started, time_budget)
    search = replace(search, progress=progress, preset=preset, oof=_oof(y, search, preset))
    with tracking.start_run(experiment=experiment, name="automl") as parent:
        if ref is not None:
            datasets_api.get(ref)  # lineage: the search read this version
        parent.log_params(_logged(search, target, folds, len(frame)))
        executing = make_executor(executor, features, y, workers, address)
        study = run_study(optuna, search, parent, executing)
        best_model, best, combined = _finish(study, search, features, y)
        _log_best(parent, best, combined, metric)
    result = _result(best_model, best, search, str(parent.id), ref, target, frame, features)
    return AutoMLResult(result, best.leaderboard, metric, str(parent.id), combined)


def _oof(y: pd.Series, search: Search, preset: Preset) -> OutOfFold:
    """Where the search keeps its trials' out-of-fold predictions."""
    return OutOfFold(y, search.task, search.metric, search.splits, preset.keep)


def _checked(
    n_trials: int | None,
    folds: int,
    ensemble: int | None,
    seed: int,
    executor: str,
    workers: int | None,
    presets: str,
) -> Preset:
    """The preset (with ``ensemble``'s size), once every option is checked (InvalidInput
    names the first bad one)."""
    check_counts(n_trials, folds, ensemble, seed)
    check_executor(executor, workers)
    preset = get_preset(presets)
    if ensemble is None:
        return preset
    if ensemble == 0:
        return replace(preset, keep=0, ensemble_rounds=0, members=1)
    best = PRESETS["best"]  # an ensemble asked of the fast preset is built as best builds it
    rounds = max(preset.ensemble_rounds, best.ensemble_rounds)
    return replace(
        preset, keep=max(preset.keep, best.keep), ensemble_rounds=rounds, members=ensemble
    )


def _result(
    model: Any,
    best: _Best,
    search: Search,
    run_id: str,
    ref: str | None,
    target: str,
    frame: pd.DataFrame,
    features: pd.DataFrame,
) -> TrainResult:
    """The refitted best model as a training result, with the search's lineage."""
    return TrainResult(
        model=model,
        task=search.task,
        metrics=best.metrics,
        fold_metrics=best.folds,
        run_id=run_id,
        dataset=ref,
        target=target,
        features=[str(c) for c in features.columns],
        sample=registration_sample(frame, search.seed),
    )


def _logged(search: Search, target: str, folds: int, rows: int) -> dict[str, Any]:
    """The search's parameters, as its run records them."""
    return {
        "target": target,
        "task": search.task,
        "metric": search.metric,
        "time_budget": search.time_budget,
        "folds": folds,
        "sampler": search.sampler,
        "seed": search.seed,
        "families": ",".join(search.families),
        "presets": search.preset.name,
        "rows": rows,
    }


def _chosen(
    families: tuple[str, ...] | list[str] | None,
    sampler: str,
    time_budget: float,
    rows: int | None = None,
) -> list[str]:
    """The families to search (by default all, less those meant for fewer than ``rows``
    training rows: ``Family.max_rows``, a logged note); InvalidInput for a bad family,
    sampler or budget."""
    if isinstance(families, str) or (families is not None and not len(families)):
        raise InvalidInput(
            f"families must be a list of family names (None: all); got {families!r}."
        )
    chosen = list(families or FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    absent = [f for f in unknown if f in FAMILY_TABLE and FAMILY_TABLE[f].searched]
    if absent:  # a family searches know, its package not installed: say which
        needs = " ".join(p for p in FAMILY_TABLE[absent[0]].needs if not installed_package(p))
        raise InvalidInput(f"family {absent[0]!r} needs {needs} installed: pip install {needs}.")
    if unknown:
        raise InvalidInput(f"families {unknown} unknown; choose from {', '.join(FAMILIES)}.")
    if not families and rows is not None:
        fits = [f for f in chosen if (get_family(f).max_rows or rows) >= rows]
        if len(fits) < len(chosen):
            left = ", ".join(f for f in chosen if f not in fits)
            logging.getLogger("shipyard.automl").info(
                "%s left out: %d rows is more than they take", left, rows
            )
        chosen = fits
    if sampler not in ("tpe", "random", "grid"):
        raise InvalidInput(f"sampler must be 'tpe', 'random' or 'grid'; got {sampler!r}.")
    if not _number(time_budget) or not 0 < time_budget < math.inf:
        raise InvalidInput(f"time_budget must be a positive number of seconds; got {time_budget}.")
    return chosen


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_counts(n_trials: int | None, folds: int, ensemble: int | None, seed: int) -> None:
    """InvalidInput naming the first of these that is not a whole number in its range."""
    if n_trials is not None and not _whole(n_trials, 1):
        raise InvalidInput(f"n_trials must be a whole number of at least 1; got {n_trials!r}.")
    if not _whole(folds, 2):
        raise InvalidInput(f"folds must be a whole number of at least 2; got {folds!r}.")
    if ensemble is not None and not (_whole(ensemble, 2) or (_whole(ensemble, 0) and not ensemble)):
        raise InvalidInput(
            "ensemble must be a whole number of members: 0 (none) or at least 2 (None: the "
            f"preset's); got {ensemble!r}."
        )
    check_seed(seed)


def _whole(value: Any, low: int) -> bool:
    return (
        isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value >= low)
    )


@dataclass(frozen=True)
class _Best:
    """What a search keeps: the best trial's pipeline (or the ensemble's) and its scores."""

    trial: Any
    pipeline: Any
    metrics: dict[str, float]
    folds: list[dict[str, float]]
    family: str
    leaderboard: pd.DataFrame


def _pick(study: Any, search: Search, features: pd.DataFrame) -> _Best:
    """The best single trial, its pipeline (unfitted) and scores."""
    best = best_trial(study)
    if best is None:
        raise InvalidInput(
            f"No trial finished within the time budget of {search.time_budget:g} s; give it "
            "more time, fewer rows or fewer families."
        )
    return _Best(
        best,
        make_pipeline(best.params, search.task, search.seed, features),
        dict(best.user_attrs.get("metrics", {})),
        list(best.user_attrs.get("folds", [])),
        str(best.params["family"]),
        _leaderboard(study, search.metric),
    )


def _finish(
    study: Any, search: Search, features: pd.DataFrame, y: pd.Series
) -> tuple[Any, _Best, Ensemble | None]:
    """The model to return: the ensemble's greedy selection first (within the time its
    refits leave), then the best single model refitted on every row (always), then the
    ensemble's other members within the budget; the ensemble when it still beats the best
    single model, cross-validated. Returns (model, what it is, the ensemble tried)."""
    best = _pick(study, search, features)
    preset, oof = search.preset, search.oof
    deadline = search.started + search.time_budget - _closing(search.time_budget)
    found = trials(study)
    kept = oof.values if oof is not None else {}
    estimates = refit_estimates({n: seconds(found[n]) for n in kept}, len(search.splits))
    selection = None
    if oof is not None and preset.ensemble_rounds:
        # after the best model's refit, the selection has what the members' refits leave,
        # and at least a third of it (members that then have no time are dropped)
        now = time.monotonic()
        left = deadline - now - estimates.get(best.trial.number, 0.0)
        members = members_seconds(oof, preset.members, estimates, search.time_budget)
        selection = select(
            oof, preset.ensemble_rounds, preset.members, now + max(left - members, left / 3)
        )
    with one_thread():  # as the folds were fitted: their times are what refits cost
        model = clone_pipeline(best.pipeline).fit(features, y)
    if selection is None:
        return model, best, None

    def build(number: int) -> Any:
        return make_pipeline(found[number].params, search.task, search.seed, features)

    families = {n: str(found[n].params["family"]) for n in selection.counts}
    with one_thread():
        ensemble = refit_members(
            selection, (best.trial.number, model), build, families, estimates, (features, y),
            deadline,
        )  # fmt: skip
    if not ensemble.kept:
        return model, best, ensemble
    return ensemble.model, _as_ensemble(best, ensemble, selection, search.metric), ensemble


def _as_ensemble(best: _Best, ensemble: Ensemble, selection: Selection, metric: str) -> _Best:
    """The kept ensemble as what the search returns: every metric of its cross-validated
    blends (the way a trial's folds are scored), first on the leaderboard."""
    scores = selection.fold_metrics(ensemble.weights)
    means = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    row = {
        "trial": -1,
        "family": "ensemble",
        metric: ensemble.cross_validated,
        "state": "complete",
        "started": math.nan,
        "seconds": math.nan,
        "run_id": None,
        "params": ensemble.describe(),
    }
    board = pd.concat([pd.DataFrame([row]), best.leaderboard], ignore_index=True)
    return replace(best, metrics=means, folds=scores, family="ensemble", leaderboard=board)


def _closing(budget: float) -> float:
    """Seconds kept after the refits for the search's last writes (its run, leaderboard)."""
    return min(0.25, 0.005 * budget)


def _log_best(run: Any, best: _Best, ensemble: Ensemble | None, metric: str) -> None:
    """What the search returns, on its run: the leaderboard, the scores, which trial (or the
    ensemble); and the ensemble tried: members and weights, its cross-validated score
    against the best single trial's, kept or not."""
    run.log_artifact(best.leaderboard, name="leaderboard.parquet")
    run.log_metrics(best.metrics)
    run.set_tags({"best_trial": str(best.trial.number), "best_family": best.family})
    if ensemble is None:
        return
    run.log_params(
        {
            "ensemble": ensemble.describe(),
            "ensemble_dropped": ",".join(map(str, ensemble.dropped)),
            "ensemble_rounds": ensemble.rounds,
        }
    )
    run.log_metrics(
        {
            f"ensemble_cv_{metric}": ensemble.cross_validated,
            f"single_cv_{metric}": ensemble.single_cross_validated,
        }
    )
    run.set_tag("ensemble", "kept" if ensemble.kept else "not kept")


def _leaderboard(study: Any, metric: str) -> pd.DataFrame:
    rows = []
    found = trials(study)
    starts = [t.datetime_start for t in found if t.datetime_start is not None]
    first = min(starts) if starts else None
    for t in found:
        complete = t.state.name == "COMPLETE"
        rows.append(
            {
                "trial": t.number,
                "family": t.params.get("family"),
                metric: t.value if complete else math.nan,  # pruned: scored on some folds
                "state": t.state.name.lower(),
                "started": (
                    (t.datetime_start - first).total_seconds()
                    if first is not None and t.datetime_start is not None
                    else math.nan
                ),
                "seconds": seconds(t),
                "run_id": t.user_attrs.get("run_id"),
                "params": ", ".join(
                    f"{k.split('.', 1)[-1]}={_short(v)}"
                    for k, v in t.params.items()
                    if k != "family"
                ),
            }
        )
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    ascending = metric in LOWER_IS_BETTER
    return board.sort_values(metric, ascending=ascending, na_position="last").reset_index(drop=True)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def default_metric(task: str, y: pd.Series) -> str:
    if task == "regression":
        return "rmse"
    return "auc" if y.nunique() == 2 else "accuracy"


def load_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - optuna is a dependency
        raise InvalidInput("Model search needs Optuna: pip install optuna.") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # trials are tracked as runs
    return optuna

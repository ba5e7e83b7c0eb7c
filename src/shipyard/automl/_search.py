"""Model search with Optuna: ``sy.automl`` over model families (``sy.tune`` is in ``_tune.py``).

Every trial is a child run of one tracked run (params, a score per fold, its state), scored by
cross-validation on the same folds, pruned after a fold when it is already worse than the
median trial there, and the search stops starting trials when the time budget is spent. The
best configuration is refitted on every row and returned ready to register.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard import data as datasets_api
from shipyard import tracking
from shipyard.automl._executors import FoldJob, make_executor
from shipyard.automl._families import get_family
from shipyard.automl._problem import (
    LOWER_IS_BETTER,
    check_target,
    clone_pipeline,
    make_splits,
    read_frame,
    score,
    split_target,
    task_of,
)
from shipyard.automl._report import leaderboard_figure, write_report
from shipyard.automl._spaces import FAMILIES, cheap_starts, grid_points, make_pipeline, suggest
from shipyard.automl._train import TrainResult
from shipyard.errors import InvalidInput

__all__ = ["LOWER_IS_BETTER", "AutoMLResult", "automl", "default_metric", "load_optuna"]


Progress = Callable[[int, float | None, float], None]


@dataclass
class AutoMLResult:
    """The best model of a search, its leaderboard and run; ``sy.models.register`` takes it."""

    best: TrainResult
    leaderboard: pd.DataFrame
    metric: str
    run_id: str

    def registration(self) -> dict[str, Any]:
        """What ``sy.models.register`` records: the best model with the search's lineage."""
        return {**self.best.registration(), "run": self.run_id}

    def figure(self) -> Any:
        """The leaderboard as a plotly Figure: scores over time per family, best so far."""
        return leaderboard_figure(self.leaderboard, self.metric)

    def report(self, path: str | Path) -> Path:
        """Write the chart and the leaderboard as one self-contained HTML page."""
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
    ensemble: int = 0,
    executor: str = "local",
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
        families: which of ``linear``, ``random_forest``, ``hist_gradient_boosting``,
            ``lightgbm``, ``xgboost``, ``mlp`` to search (default: all).
        folds: cross-validation folds per trial (time-ordered with ``time_column``).
        sampler: ``tpe`` (default), ``random``, or ``grid`` (a coarse grid over each
            family's main hyper-parameters, families in turn; the search ends when the grid
            is done).
        ensemble: combine the best trials of this many different families (soft voting;
            averaging for regression), scored on the same folds, and keep the combination when
            it beats the best single model (0: no ensemble).
        executor: where folds are fitted: ``local`` (this process, one at a time),
            ``processes`` (``workers`` local processes, trials side by side) or ``ray``
            (tasks on the Ray cluster at ``address``, or a local one started for you). Every
            trial is tracked from this process, in the same store.
        progress: called after each trial with (trials done, best score, seconds left).

    Raises:
        InvalidInput: bad target, metric, family, sampler or budget (named).
    """
    started = time.monotonic()  # the budget counts from the call: reading data included
    optuna = load_optuna()
    frame, ref = read_frame(dataset, data)
    features, y = split_target(frame, target, drop)
    task = task or task_of(None, y)
    check_target(features, y, target, task)
    metric = metric or default_metric(task, y)
    chosen = list(families or FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise InvalidInput(f"families {unknown} unknown; choose from {', '.join(FAMILIES)}.")
    if sampler not in ("tpe", "random", "grid"):
        raise InvalidInput(f"sampler must be 'tpe', 'random' or 'grid'; got {sampler!r}.")
    if not time_budget > 0:
        raise InvalidInput(f"time_budget must be a positive number of seconds; got {time_budget}.")
    splits = make_splits(features, y, task, "kfold", 0.2, folds, time_column, seed)

    def build(params: dict[str, Any]) -> Any:
        return make_pipeline(params, task, seed, features)

    with tracking.start_run(experiment=experiment, name="automl") as parent:
        if ref is not None:
            datasets_api.get(ref)  # lineage: the search read this version
        parent.log_params(
            {
                "target": target,
                "task": task,
                "metric": metric,
                "time_budget": time_budget,
                "folds": folds,
                "sampler": sampler,
                "seed": seed,
                "families": ",".join(chosen),
                "rows": len(frame),
            }
        )
        study = _run_study(
            optuna,
            chosen,
            features,
            y,
            splits,
            task,
            metric,
            sampler,
            seed,
            n_trials,
            started,
            time_budget,
            progress,
            parent,
            make_executor(executor, features, y, workers, address),
        )
        best_trial = _best(study)
        if best_trial is None:
            raise InvalidInput(
                f"No trial finished within the time budget of {time_budget:g} s; give it more "
                "time, fewer rows or fewer families."
            )
        leaderboard = _leaderboard(study, metric)
        best_pipeline = build(best_trial.params)
        best_metrics = dict(best_trial.user_attrs.get("metrics", {}))
        best_folds = list(best_trial.user_attrs.get("folds", []))
        family = str(best_trial.params["family"])
        if ensemble >= 2:
            combined = _ensemble(optuna, study, build, ensemble, task, features, y, splits, metric)
            if combined is not None and _better(combined[1][metric], best_metrics[metric], metric):
                best_pipeline, best_metrics, best_folds = combined
                family = "ensemble"
                leaderboard = pd.concat(
                    [
                        pd.DataFrame(
                            [
                                {
                                    "trial": -1,
                                    "family": "ensemble",
                                    metric: best_metrics[metric],
                                    "state": "complete",
                                    "started": math.nan,
                                    "seconds": math.nan,
                                    "run_id": None,
                                    "params": ", ".join(n for n, _ in best_pipeline.estimators),
                                }
                            ]
                        ),
                        leaderboard,
                    ],
                    ignore_index=True,
                )
        best_model = clone_pipeline(best_pipeline).fit(features, y)
        parent.log_artifact(leaderboard, name="leaderboard.parquet")
        parent.log_metrics(best_metrics)
        parent.set_tags({"best_trial": str(best_trial.number), "best_family": family})
    sample = frame.sample(min(len(frame), 1000), random_state=seed)
    best = TrainResult(
        model=best_model,
        task=task,
        metrics=best_metrics,
        fold_metrics=best_folds,
        run_id=str(parent.id),
        dataset=ref,
        target=target,
        features=[str(c) for c in features.columns],
        sample=sample,
    )
    return AutoMLResult(best, leaderboard, metric, str(parent.id))


@dataclass
class _Trial:
    """A trial in flight: its Optuna trial, its run, its scores so far."""

    trial: Any
    run: Any
    scores: list[dict[str, float]]


def _run_study(
    optuna: Any,
    families: list[str],
    features: pd.DataFrame,
    y: pd.Series,
    splits: list[tuple[np.ndarray, np.ndarray]],
    task: str,
    metric: str,
    sampler: str,
    seed: int,
    n_trials: int | None,
    started: float,
    time_budget: float,
    progress: Progress | None,
    parent: Any,
    executor: Any,
) -> Any:
    """Ask Optuna for trials, run their folds one after another (trials side by side when
    the executor has several workers), report each fold for pruning, tell the outcome."""
    study = optuna.create_study(
        direction="minimize" if metric in LOWER_IS_BETTER else "maximize",
        sampler=(
            optuna.samplers.TPESampler(seed=seed)
            if sampler == "tpe"
            else optuna.samplers.RandomSampler(seed=seed)
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0),
    )
    grid = grid_points(families, task) if sampler == "grid" else []
    for start in grid or cheap_starts(families, task):
        study.enqueue_trial(start, skip_if_exists=True)
    if grid:
        n_trials = len(grid) if n_trials is None else min(n_trials, len(grid))
    flying: dict[Any, _Trial] = {}
    current: _Trial | None = None  # the trial whose fold is being handled
    asked = 0
    stopping = False
    deadline = started + time_budget
    curves: list[list[float]] = []  # validation curves of the MLP folds that finished

    def refit_reserve() -> float:
        # the refit costs about one fold's fit on every row
        best = _best(study)
        return (_seconds(best) / len(splits) * 1.5) if best is not None else 0.0

    def submit(state: _Trial) -> None:
        train_rows, test_rows = splits[len(state.scores)]
        # Folds stop at the budget, less the refit's share; the first trial always finishes.
        stop_at = None
        if _best(study) is not None:
            stop_at = time.time() + (deadline - time.monotonic()) - refit_reserve()
        prunes = get_family(str(state.trial.params["family"])).prunes_curves
        bar = _curve_bar(curves, least=3 * len(splits)) if prunes else None  # 3 trials
        job = FoldJob(dict(state.trial.params), task, seed, train_rows, test_rows, stop_at, bar)
        flying[executor.submit(job)] = state

    def ask() -> None:
        nonlocal asked
        trial = study.ask()
        trial.suggest_categorical("family", families)
        suggest(trial, str(trial.params["family"]), task, seed)  # records the parameters
        run = tracking.start_run(
            name=f"trial-{trial.number}-{trial.params['family']}", parent=parent
        )
        trial.set_user_attr("run_id", str(run.id))
        run.log_params(dict(trial.params))
        asked += 1
        submit(_Trial(trial, run, []))

    def finish(state: _Trial, outcome: str, value: float | None = None) -> None:
        state.run.set_tag("state", outcome)
        state.run.end()
        if outcome == "complete":
            study.tell(state.trial, value)
        else:  # pruned, or stopped by the budget: Optuna has no better word for either
            study.tell(state.trial, state=optuna.trial.TrialState.PRUNED)
        best = _best(study)
        if best is not None:
            parent.log_metric(f"best_{metric}", float(best.value), step=state.trial.number)
        if progress is not None:
            left = max(0.0, started + time_budget - time.monotonic())
            progress(len(_trials(study)), None if best is None else float(best.value), left)

    def out_of_time() -> bool:
        # Stop starting trials once a typical trial would overrun the time left for the
        # refit, which costs about one fold's fit on every row.
        durations = sorted(_seconds(t) for t in _trials(study, complete=True))
        typical = durations[len(durations) // 2] if durations else 0.0
        return time.monotonic() + typical + refit_reserve() >= deadline

    try:
        while True:
            while (
                not stopping
                and len(flying) < executor.workers
                and (n_trials is None or asked < n_trials)
                and not out_of_time()
            ):
                ask()
            if not flying:
                break
            for handle in executor.wait(list(flying)):
                state = flying[handle]
                outcome = executor.result(handle)
                fold = outcome.scores
                del flying[handle]
                current = state
                if metric not in fold:
                    raise InvalidInput(
                        f"metric {metric!r} is not available for this {task} task; "
                        f"choose from {', '.join(fold)}."
                    )
                number = len(state.scores)
                state.scores.append(fold)
                state.run.log_metrics({f"fold_{k}": v for k, v in fold.items()}, step=number)
                running = float(np.mean([f[metric] for f in state.scores]))
                state.trial.report(running, number)
                if outcome.curve and outcome.stopped is None:
                    curves.append(outcome.curve)
                if outcome.stopped == "pruned" or state.trial.should_prune():
                    finish(state, "pruned")
                elif outcome.stopped == "deadline" or (
                    len(state.scores) < len(splits)
                    and time.monotonic() >= deadline
                    and _best(study) is not None  # the first trial always completes
                ):
                    finish(state, "stopped")  # out of time: cut short or on some folds only
                elif len(state.scores) < len(splits):
                    submit(state)
                else:
                    means = {k: float(np.mean([f[k] for f in state.scores])) for k in fold}
                    state.run.log_metrics(means)
                    state.trial.set_user_attr("metrics", means)
                    state.trial.set_user_attr("folds", state.scores)
                    finish(state, "complete", means[metric])
                current = None
            if time.monotonic() >= deadline:
                stopping = True  # start no more trials
    except BaseException as exc:
        status = "killed" if isinstance(exc, KeyboardInterrupt) else "failed"
        for state in [*flying.values(), *([current] if current is not None else [])]:
            state.run.end(status)
        raise
    finally:
        executor.close()
    return study


def _curve_bar(curves: list[list[float]], least: int = 3) -> tuple[float, ...] | None:
    """Per epoch, the median of the best validation loss reached so far by earlier MLP
    folds (a curve that stopped early keeps its last value); None with fewer than ``least``."""
    if len(curves) < least:
        return None
    longest = max(len(c) for c in curves)
    table = np.array([np.minimum.accumulate(c + [c[-1]] * (longest - len(c))) for c in curves])
    return tuple(float(v) for v in np.median(table, axis=0))


def _better(a: float, b: float, metric: str) -> bool:
    return a < b if metric in LOWER_IS_BETTER else a > b


def _ensemble(
    optuna: Any,
    study: Any,
    build: Callable[[Any], Any],
    size: int,
    task: str,
    features: pd.DataFrame,
    y: pd.Series,
    splits: list[tuple[np.ndarray, np.ndarray]],
    metric: str,
) -> tuple[Any, dict[str, float], list[dict[str, float]]] | None:
    """The best trial of each of the top families, voting; None with fewer than two."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    ranked = sorted(
        _trials(study, complete=True),
        key=lambda t: t.value,
        reverse=metric not in LOWER_IS_BETTER,
    )
    members: dict[str, Any] = {}
    for trial in ranked:
        members.setdefault(str(trial.params["family"]), trial)
        if len(members) == size:
            break
    if len(members) < 2:
        return None
    estimators = [(f"{family}-{t.number}", build(t.params)) for family, t in members.items()]
    voting = (
        VotingClassifier(estimators, voting="soft")
        if task == "classification"
        else VotingRegressor(estimators)
    )
    with tracking.start_run(name="ensemble") as run:
        run.log_params({"members": ", ".join(n for n, _ in estimators)})
        scores = []
        for number, (train_rows, test_rows) in enumerate(splits):
            fitted = clone_pipeline(voting).fit(features.iloc[train_rows], y.iloc[train_rows])
            fold = score(fitted, features.iloc[test_rows], y.iloc[test_rows], task)
            run.log_metrics({f"fold_{k}": v for k, v in fold.items()}, step=number)
            scores.append(fold)
        means = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
        run.log_metrics(means)
    return voting, means, scores


def _trials(study: Any, complete: bool = False) -> list[Any]:
    """The study's trials without copying them (``study.trials`` deep-copies every trial on
    every call: quadratic in the number of trials, half the budget on small data)."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE,) if complete else None
    return list(study.get_trials(deepcopy=False, states=states))


def _best(study: Any) -> Any:
    complete = _trials(study, complete=True)
    if not complete:
        return None
    lower = study.direction.name == "MINIMIZE"
    return (min if lower else max)(complete, key=lambda t: t.value)


def _leaderboard(study: Any, metric: str) -> pd.DataFrame:
    rows = []
    trials = _trials(study)
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    first = min(starts) if starts else None
    for t in trials:
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
                "seconds": _seconds(t),
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


def _seconds(trial: Any) -> float:
    if trial.datetime_complete is None or trial.datetime_start is None:
        return math.nan
    return float((trial.datetime_complete - trial.datetime_start).total_seconds())


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

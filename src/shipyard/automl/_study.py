"""Running a search's Optuna study: trials asked, their folds fitted by an executor, each
fold reported for pruning, outcomes told, all within the time budget.

Every trial is a child run of the search's run (params, a score per fold, its state). Trials
run side by side when the executor has several workers. A search starts with the cheap
starts and the families' portfolios; then each trial's family is chosen by promise
(``_promise.py``) and the sampler fills its hyper-parameters. On small data a fold is
pruned when it is already worse than the median trial there. On larger data trials climb
successive-halving rungs first (Optuna's SuccessiveHalvingPruner, asynchronous): fits on
1/9 and 1/3 of fold 0's training rows, then fold 0 in full; only the best third at each
rung goes on. Rung scores are not folds: they never enter a trial's scores or its
out-of-fold predictions. The search stops starting trials when a typical trial would
overrun the time left for the refit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard import tracking
from shipyard.automl._ensemble import REFIT_FACTOR, refit_estimates, reserve_seconds
from shipyard.automl._executors import FoldJob
from shipyard.automl._families import get_family
from shipyard.automl._oof import OutOfFold
from shipyard.automl._presets import DEFAULT_PRESET, PRESETS, Preset
from shipyard.automl._problem import LOWER_IS_BETTER
from shipyard.automl._promise import next_family
from shipyard.automl._spaces import grid_points, start_points, suggest
from shipyard.errors import InvalidInput

__all__ = ["Progress", "Search", "best_trial", "curve_bar", "run_study", "seconds", "trials"]

Progress = Callable[[int, float | None, float], None]

HALVING_ROWS = 3000  # successive halving from this many rows (smaller data: every fold)
RUNG_ROWS = 500  # the fewest training rows of a rung
RUNGS = (1 / 9, 1 / 3)  # the rungs' shares of fold 0's training rows (reduction factor 3)


@dataclass(frozen=True)
class Search:
    """What a search runs: families, folds, task and metric, sampler, budget, progress."""

    families: list[str]
    splits: list[tuple[np.ndarray, np.ndarray]]
    task: str
    metric: str
    sampler: str
    seed: int
    n_trials: int | None
    started: float  # time.monotonic() when the search was called
    time_budget: float
    progress: Progress | None = None
    preset: Preset = PRESETS[DEFAULT_PRESET]
    oof: OutOfFold | None = None  # where complete trials' out-of-fold predictions are kept
    halving_rows: int = HALVING_ROWS  # rows from which trials climb halving rungs first
    rung_rows: int = RUNG_ROWS  # the fewest training rows of a rung


def rungs_of(search: Search) -> tuple[float, ...]:
    """The halving rungs of a search (shares of fold 0's training rows, smallest first):
    none on small data, with the grid, or when the preset says no."""
    train, test = (len(rows) for rows in search.splits[0])
    if not search.preset.halving or search.sampler == "grid" or train + test < search.halving_rows:
        return ()
    return tuple(share for share in RUNGS if share * train >= search.rung_rows)


@dataclass
class _Trial:
    """A trial in flight: its Optuna trial, its run, its scores (and out-of-fold
    predictions) so far."""

    trial: Any
    run: Any
    scores: list[dict[str, float]]
    predictions: np.ndarray | None = None
    rung: int = 0  # the next halving rung (past the last: on full folds)


def run_study(optuna: Any, search: Search, parent: Any, executor: Any) -> Any:
    """Ask Optuna for trials, run their folds one after another (trials side by side when
    the executor has several workers), report each fold for pruning, tell the outcome."""
    rungs = rungs_of(search)
    study = optuna.create_study(
        direction="minimize" if search.metric in LOWER_IS_BETTER else "maximize",
        sampler=(
            optuna.samplers.TPESampler(seed=search.seed)
            if search.sampler == "tpe"
            else optuna.samplers.RandomSampler(seed=search.seed)
        ),
        pruner=(
            # rung i reports at step 3**i, full fold k at 3**len(rungs) + k: fold 0 in
            # full is the last rung (ASHA with reduction factor 3)
            optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
            if rungs
            else optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
        ),
    )
    grid = grid_points(search.families, search.task) if search.sampler == "grid" else []
    for start in grid or start_points(search.families, search.task, search.preset.portfolio):
        study.enqueue_trial(start, skip_if_exists=True)
    n_trials = search.n_trials
    if grid:
        n_trials = len(grid) if n_trials is None else min(n_trials, len(grid))
    if hasattr(executor, "choose"):  # "auto": processes or local, by budget and trials
        executor = executor.choose(search.time_budget, n_trials)
    if hasattr(executor, "warm"):
        executor.warm(tuple(search.families))
    _Runner(optuna, study, search, parent, executor, n_trials, rungs).run()
    return study


class _Runner:
    """The loop of one study: trials in flight, the curves seen, when to stop starting."""

    def __init__(
        self,
        optuna: Any,
        study: Any,
        search: Search,
        parent: Any,
        executor: Any,
        n_trials: int | None,
        rungs: tuple[float, ...] = (),
    ) -> None:
        self.optuna = optuna
        self.study = study
        self.search = search
        self.parent = parent
        self.executor = executor
        self.n_trials = n_trials
        self.flying: dict[Any, _Trial] = {}
        self.current: _Trial | None = None  # the trial whose fold is being handled
        self.asked = 0
        self.stopping = False
        self.deadline = search.started + search.time_budget
        self.curves: list[list[float]] = []  # validation curves of the MLP folds that finished
        self.rungs = rungs
        self.fold_step = 3 ** len(rungs) if rungs else 0  # the step of full fold 0

    def run(self) -> None:
        try:
            while True:
                while (
                    not self.stopping
                    and len(self.flying) < self.executor.workers
                    and (self.n_trials is None or self.asked < self.n_trials)
                    and not self.out_of_time()
                ):
                    self.ask()
                if not self.flying:
                    break
                for handle in self.executor.wait(list(self.flying)):
                    self.handle(handle)
                if time.monotonic() >= self.deadline:
                    self.stopping = True  # start no more trials
        except BaseException as exc:
            status = "killed" if isinstance(exc, KeyboardInterrupt) else "failed"
            current = [self.current] if self.current is not None else []
            for state in [*self.flying.values(), *current]:
                state.run.end(status)
            raise
        finally:
            self.executor.close()

    def refit_reserve(self) -> float:
        """Seconds kept for the end: the best model's refit (about 1.5 folds' fits: every
        row) and, with an ensemble, its selection and its likely members' refits."""
        best = best_trial(self.study)
        if best is None:
            return 0.0
        search, folds = self.search, len(self.search.splits)
        single = seconds(best) / folds * REFIT_FACTOR
        if search.oof is None or not search.preset.ensemble_rounds:
            return single
        found = trials(self.study)
        estimates = refit_estimates({n: seconds(found[n]) for n in search.oof.values}, folds)
        preset = search.preset
        more = reserve_seconds(
            search.oof, preset.ensemble_rounds, preset.members, estimates, search.time_budget
        )
        return single + more

    def submit(self, state: _Trial) -> None:
        search = self.search
        rung = state.rung < len(self.rungs)  # a rung fits a share of fold 0's training rows
        train_rows, test_rows = search.splits[0 if rung else len(state.scores)]
        # Folds stop at the budget, less the refit's share; the first trial always finishes.
        stop_at = None
        if best_trial(self.study) is not None:
            stop_at = time.time() + (self.deadline - time.monotonic()) - self.refit_reserve()
        prunes = get_family(str(state.trial.params["family"])).prunes_curves and not rung
        bar = curve_bar(self.curves, least=3 * len(search.splits)) if prunes else None  # 3 trials
        params = dict(state.trial.params)
        keep = search.oof is not None and search.oof.keep > 0 and not rung
        share = self.rungs[state.rung] if rung else 1.0
        job = FoldJob(
            params, search.task, search.seed, train_rows, test_rows, stop_at, bar, keep, share
        )
        self.flying[self.executor.submit(job)] = state

    def ask(self) -> None:
        search = self.search
        waiting = self.study.get_trials(
            deepcopy=False, states=(self.optuna.trial.TrialState.WAITING,)
        )
        if search.sampler == "tpe" and not waiting and len(search.families) > 1:
            found = trials(self.study)
            lower = search.metric in LOWER_IS_BETTER
            family = next_family(found, search.families, lower, search.n_trials is None)
            self.study.enqueue_trial({"family": family})  # the sampler fills the rest
        trial = self.study.ask()
        trial.suggest_categorical("family", search.families)
        suggest(trial, str(trial.params["family"]), search.task, search.seed)  # records params
        run = tracking.start_run(
            name=f"trial-{trial.number}-{trial.params['family']}", parent=self.parent
        )
        trial.set_user_attr("run_id", str(run.id))
        run.log_params(dict(trial.params))
        self.asked += 1
        self.submit(_Trial(trial, run, []))

    def finish(self, state: _Trial, outcome: str, value: float | None = None) -> None:
        state.run.set_tag("state", outcome)
        state.run.end()
        if outcome == "complete":
            self.study.tell(state.trial, value)
        else:  # pruned, or stopped by the budget: Optuna has no better word for either
            self.study.tell(state.trial, state=self.optuna.trial.TrialState.PRUNED)
        best = best_trial(self.study)
        if best is not None:
            self.parent.log_metric(
                f"best_{self.search.metric}", float(best.value), step=state.trial.number
            )
        if self.search.progress is not None:
            left = max(0.0, self.deadline - time.monotonic())
            shown = None if best is None else float(best.value)
            self.search.progress(len(trials(self.study)), shown, left)

    def out_of_time(self) -> bool:
        # Stop starting trials once a typical trial would overrun the time left for the
        # refit, which costs about one fold's fit on every row. With halving rungs most
        # trials end on a cheap rung: pruned ones count too (one promoted late is cut at
        # the deadline like any fold).
        finished = [t for t in trials(self.study) if self.rungs or t.state.name == "COMPLETE"]
        durations = sorted(seconds(t) for t in finished if t.state.name != "RUNNING")
        typical = durations[len(durations) // 2] if durations else 0.0
        return time.monotonic() + typical + self.refit_reserve() >= self.deadline

    def handle(self, handle: Any) -> None:
        """One fold's outcome: report it, then prune, stop, go on to the next fold or tell."""
        search, metric = self.search, self.search.metric
        state = self.flying[handle]
        outcome = self.executor.result(handle)
        fold = outcome.scores
        del self.flying[handle]
        self.current = state
        if metric not in fold:
            raise InvalidInput(
                f"metric {metric!r} is not available for this {search.task} task; "
                f"choose from {', '.join(fold)}."
            )
        self.record(state, outcome)
        more = len(state.scores) < len(search.splits)  # rungs or folds still to fit
        if outcome.stopped == "pruned" or state.trial.should_prune():
            self.finish(state, "pruned")
        elif outcome.stopped == "deadline" or (
            more
            and time.monotonic() >= self.deadline
            and best_trial(self.study) is not None  # the first trial always completes
        ):
            self.finish(state, "stopped")  # out of time: cut short or on some folds only
        elif more:
            self.submit(state)
        else:
            means = {k: float(np.mean([f[k] for f in state.scores])) for k in fold}
            state.run.log_metrics(means)
            state.trial.set_user_attr("metrics", means)
            state.trial.set_user_attr("folds", state.scores)
            if search.oof is not None and state.predictions is not None:
                search.oof.add(state.trial.number, means[metric], state.predictions)
            self.finish(state, "complete", means[metric])
        self.current = None

    def record(self, state: _Trial, outcome: Any) -> None:
        """Log and report one outcome: a rung's score at its step (the trial's scores and
        out-of-fold predictions are full folds' only), or a fold's and the running mean."""
        fold, metric = outcome.scores, self.search.metric
        if state.rung < len(self.rungs):
            step = 3**state.rung
            state.rung += 1
            state.run.log_metrics({f"rung_{k}": v for k, v in fold.items()}, step=step)
            state.trial.report(fold[metric], step)
            return
        number = len(state.scores)
        state.scores.append(fold)
        self.keep_predictions(state, number, outcome)
        state.run.log_metrics({f"fold_{k}": v for k, v in fold.items()}, step=number)
        running = float(np.mean([f[metric] for f in state.scores]))
        state.trial.report(running, self.fold_step + number)
        if outcome.curve and outcome.stopped is None:
            self.curves.append(outcome.curve)

    def keep_predictions(self, state: _Trial, fold: int, outcome: Any) -> None:
        """Lay one fold's held-out predictions into the trial's out-of-fold matrix."""
        oof = self.search.oof
        if oof is None or outcome.predictions is None:
            return
        if state.predictions is None:
            state.predictions = oof.empty()
        oof.place(state.predictions, fold, outcome.predictions, outcome.classes)


def curve_bar(curves: list[list[float]], least: int = 3) -> tuple[float, ...] | None:
    """Per epoch, the median of the best validation loss reached so far by earlier MLP
    folds (a curve that stopped early keeps its last value); None with fewer than ``least``."""
    if len(curves) < least:
        return None
    longest = max(len(c) for c in curves)
    table = np.array([np.minimum.accumulate(c + [c[-1]] * (longest - len(c))) for c in curves])
    return tuple(float(v) for v in np.median(table, axis=0))


def trials(study: Any, complete: bool = False) -> list[Any]:
    """The study's trials without copying them (``study.trials`` deep-copies every trial on
    every call: quadratic in the number of trials, half the budget on small data); start
    points never asked for (waiting) are left out."""
    from optuna.trial import TrialState

    asked = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    states = (TrialState.COMPLETE,) if complete else asked
    return list(study.get_trials(deepcopy=False, states=states))


def best_trial(study: Any) -> Any:
    """The best complete trial, or None."""
    complete = trials(study, complete=True)
    if not complete:
        return None
    lower = study.direction.name == "MINIMIZE"
    return (min if lower else max)(complete, key=lambda t: t.value)


def seconds(trial: Any) -> float:
    """How long a trial ran (NaN while it runs)."""
    if trial.datetime_complete is None or trial.datetime_start is None:
        return math.nan
    return float((trial.datetime_complete - trial.datetime_start).total_seconds())

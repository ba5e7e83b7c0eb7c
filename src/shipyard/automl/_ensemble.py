"""A search's ensemble: greedy forward selection over the kept out-of-fold predictions.

Caruana, Niculescu-Mizil, Crew & Ksikes (2004), "Ensemble selection from libraries of
models": start from nothing; each round add (with replacement) the trial whose addition
gives the best blend on the out-of-fold rows; the weights are how often each trial was
added, over the rounds. Every trial was scored on the same folds, so the blends are scored
the way trials are (the search's metric, mean over folds).

A selection scored on the rows it was chosen on flatters itself, and so does the best of
many trials, so the keep decision cross-validates both choices alike: for each fold, the
weights chosen on the other folds' held-out rows, and the single trial best on those rows,
are scored on this fold's; the ensemble is kept only when the mean of its scores beats the
single trial's (an ensemble that only flatters itself loses). The selections run side by
side, a round at a time, so a deadline cuts all of them at the same round.

The model is scikit-learn's ``VotingClassifier`` (soft) or ``VotingRegressor`` with those
weights over the members' pipelines, refitted on every row within the budget (a member that
cannot be is dropped, the others' weights renormalised and checked again).
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from shipyard.automl._blend_scores import FoldScorer, fast_metric
from shipyard.automl._fitting import fit_within
from shipyard.automl._oof import OutOfFold
from shipyard.automl._problem import score_values

__all__ = [
    "REFIT_FACTOR",
    "Ensemble",
    "Selection",
    "members_seconds",
    "refit_estimates",
    "refit_members",
    "reserve_seconds",
    "select",
    "voting",
]

REFIT_FACTOR = 1.5  # a refit on every row costs about this many folds' fits (3 folds: 3/2)
SELECTION_SHARE = 0.1  # the most of the budget the selection may take
ENSEMBLE_SHARE = 0.25  # the most of the budget the members' refits are reserved


class _Greedy:
    """One forward selection with replacement over ``folds``, a round at a time."""

    def __init__(self, scorer: FoldScorer, folds: list[int], candidates: list[int], most: int):
        self.scorer = scorer
        self.folds = folds
        self.candidates = candidates  # best first: ties go to the better trial
        self.most = most
        self.counts: Counter[int] = Counter()
        # per fold, the sum of the chosen predictions
        self.sums: list[Any] = [0.0 for _ in folds]
        self.score = -np.inf
        self.first: int | None = None  # the single trial best on these folds

    def step(self) -> None:
        rounds = sum(self.counts.values()) + 1
        pool = self.candidates if len(self.counts) < self.most else list(self.counts)
        rows = [self.scorer.numbers.index(n) for n in pool]
        gains = np.mean(
            [self.scorer.gains(f, self.sums[i], rows, rounds) for i, f in enumerate(self.folds)],
            axis=0,
        )
        at = int(np.argmax(gains))  # the first of equals: the better trial
        best = pool[at]
        self.counts[best] += 1
        self.first = best if self.first is None else self.first
        chosen = self.scorer.parts[best]
        self.sums = [s + chosen[f] for s, f in zip(self.sums, self.folds, strict=True)]
        self.score = float(gains[at])


@dataclass(frozen=True)
class Selection:
    """A greedy selection and its cross-validation.

    Attributes:
        counts: trial number -> times chosen, on every fold's rows.
        held_out: per fold, the counts chosen on the other folds' rows.
        single: the best single trial (number) and its score.
        held_out_single: per fold, the single trial best on the other folds' rows.
        rounds: rounds run (fewer than asked when the deadline came first).
    """

    scorer: FoldScorer
    counts: dict[int, int]
    held_out: list[dict[int, int]]
    single: tuple[int, float]
    rounds: int
    held_out_single: list[int]
    oof: OutOfFold = field(repr=False)

    @property
    def task(self) -> str:
        return self.oof.task

    def weights(self, members: Any = None) -> dict[int, float]:
        """Trial number -> weight (summing to one), of ``members`` only when given."""
        kept = {n: c for n, c in self.counts.items() if members is None or n in members}
        total = sum(kept.values())
        return {n: c / total for n, c in sorted(kept.items(), key=lambda i: -i[1])}

    def score(self, members: Any = None) -> float:
        """The blend's score on the folds it was chosen on (flattering)."""
        counts = {n: c for n, c in self.counts.items() if members is None or n in members}
        folds = range(self.scorer.folds)
        return float(np.mean([self.scorer.score(f, self.scorer.blend(f, counts)) for f in folds]))

    def cross_validated(self, members: Any = None) -> float:
        """Mean over folds of the weights chosen on the other folds, scored on this one
        (``members`` only, renormalised; the best single trial where none is left)."""
        scores = []
        for fold, counts in enumerate(self.held_out):
            kept = {n: c for n, c in counts.items() if members is None or n in members}
            scores.append(self.scorer.score(fold, self.scorer.blend(fold, kept or self._one())))
        return float(np.mean(scores))

    def _one(self) -> dict[int, int]:
        return {self.single[0]: 1}

    def fold_metrics(self, members: Any = None) -> list[dict[str, float]]:
        """Every metric of each fold's cross-validated blend (as :meth:`cross_validated`),
        the way a trial's folds are scored."""
        oof, found = self.oof, []
        for fold, counts in enumerate(self.held_out):
            kept = {n: c for n, c in counts.items() if members is None or n in members}
            values = self.scorer.blend(fold, kept or self._one())
            test = oof.splits[fold][1]
            classes = list(oof.classes) if oof.task == "classification" else None
            found.append(score_values(oof.y.iloc[test], values, oof.task, classes))
        return found

    def single_cross_validated(self) -> float:
        """Mean over folds of the single trial best on the other folds, scored on this one:
        what choosing the best trial is worth, as honestly as :meth:`cross_validated`."""
        chosen = enumerate(self.held_out_single)
        return float(np.mean([self.scorer.score(f, self.scorer.parts[n][f]) for f, n in chosen]))

    def beats_single(self, members: Any = None) -> bool:
        """Whether the cross-validated blend scores better than the cross-validated choice
        of the best single trial."""
        single = self.single_cross_validated()
        gain = self.scorer.sign * (self.cross_validated(members) - single)
        return gain > 1e-6 * max(1.0, abs(single))  # a real gain, not float32 rounding


def select(
    oof: OutOfFold, rounds: int, most: int, deadline: float | None = None
) -> Selection | None:
    """The greedy selection of at most ``most`` distinct kept trials in ``rounds`` rounds,
    cross-validated; None with fewer than two kept trials or folds, or no time for a round.
    ``deadline`` (``time.monotonic()``) cuts the rounds short, every selection alike."""
    ranked = oof.ranked()
    if len(ranked) < 2 or most < 2 or rounds < 1 or len(oof.splits) < 2:
        return None
    scorer = FoldScorer(oof, ranked)
    every = list(range(scorer.folds))
    whole = _Greedy(scorer, every, ranked, most)
    held_out = [_Greedy(scorer, [f for f in every if f != k], ranked, most) for k in every]
    done = 0
    while done < rounds and (deadline is None or time.monotonic() < deadline):
        for greedy in (whole, *held_out):
            greedy.step()
        done += 1
    if not done:
        return None
    single = (ranked[0], oof.values[ranked[0]])
    return Selection(
        scorer,
        dict(whole.counts),
        [dict(g.counts) for g in held_out],
        single,
        done,
        [int(g.first) for g in held_out if g.first is not None],
        oof,
    )


@dataclass(frozen=True)
class Ensemble:
    """What a search's ensemble came to, kept or not.

    Attributes:
        weights: trial number -> weight of the members refitted (sum to one).
        families: trial number -> family, of the members.
        score: the blend's out-of-fold score (chosen on the same rows: flattering).
        cross_validated: the selection's score, weights chosen on the other folds.
        single: the best single trial's score (the same folds; chosen on them: flattering).
        single_cross_validated: the best single trial chosen on the other folds, scored on
            each (what the ensemble's cross-validated score must beat).
        kept: whether the search returns the ensemble (it beat the best single trial,
            both cross-validated).
        dropped: members chosen but not refitted within the budget.
        rounds: rounds of the greedy selection.
    """

    weights: dict[int, float]
    families: dict[int, str]
    score: float
    cross_validated: float
    single: float
    single_cross_validated: float
    kept: bool
    dropped: tuple[int, ...] = ()
    rounds: int = 0
    model: Any = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """``lightgbm-12 0.45, linear-3 0.30, ...``: the members and their weights."""
        return ", ".join(f"{self.families[n]}-{n} {w:.2f}" for n, w in self.weights.items())


def refit_members(
    selection: Selection,
    best: tuple[int, Any],
    build: Callable[[int], Any],
    families: Mapping[int, str],
    estimates: Mapping[int, float],
    data: tuple[pd.DataFrame, pd.Series],
    deadline: float,
) -> Ensemble:
    """Refit the selection's members on every row, heaviest first, each within ``deadline``
    (``time.monotonic()``; a member whose fit would not end by then is dropped); the best
    best single trial is ``best`` (number, fitted) already. Kept when the members left still
    beat the best single trial, cross-validated."""
    features, y = data
    fitted: dict[int, Any] = {}
    dropped: list[int] = []
    for number in selection.weights():
        if number == best[0]:
            fitted[number] = best[1]
            continue
        left = deadline - time.monotonic()
        if estimates.get(number, np.inf) > left:
            dropped.append(number)
            continue
        pipeline = build(number)
        if fit_within(pipeline, features, y, time.time() + left) is not None:
            dropped.append(number)  # cut short by the deadline: not the model chosen
        else:
            fitted[number] = pipeline
    kept = len(fitted) >= 2 and selection.beats_single(fitted)
    weights = selection.weights(fitted)
    ensemble = Ensemble(
        weights=weights,
        families={n: families[n] for n in weights},
        score=selection.score(fitted),
        cross_validated=selection.cross_validated(fitted),
        single=selection.single[1],
        single_cross_validated=selection.single_cross_validated(),
        kept=kept,
        dropped=tuple(dropped),
        rounds=selection.rounds,
    )
    if not kept:
        return ensemble
    named = {f"{families[n]}-{n}": (build(n), fitted[n]) for n in weights}
    return replace(ensemble, model=voting(named, list(weights.values()), y, selection.task))


def voting(
    members: Mapping[str, tuple[Any, Any]], weights: list[float], y: pd.Series, task: str
) -> Any:
    """A fitted ``VotingClassifier`` (soft) or ``VotingRegressor`` of already fitted
    pipelines (name -> (unfitted, fitted)) with these weights: what ``fit`` would make,
    without fitting again (scikit-learn's votes have no prefit option)."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import Bunch

    unfitted = [(name, pair[0]) for name, pair in members.items()]
    fitted = [pair[1] for pair in members.values()]
    vector = np.array(weights, dtype=np.float64)  # skl2onnx sums the weights as an array
    if task == "classification":
        vote: Any = VotingClassifier(
            unfitted, voting="soft", weights=vector, flatten_transform=False
        )
        vote.le_ = LabelEncoder().fit(y)
        vote.classes_ = vote.le_.classes_
    else:
        vote = VotingRegressor(unfitted, weights=vector)
    vote.estimators_ = fitted
    vote.named_estimators_ = Bunch(**dict(zip(members, fitted, strict=True)))
    if hasattr(fitted[0], "feature_names_in_"):
        vote.feature_names_in_ = fitted[0].feature_names_in_
    return vote


def refit_estimates(durations: Mapping[int, float], folds: int) -> dict[int, float]:
    """Seconds to refit each trial on every row: :data:`REFIT_FACTOR` folds' fits (a
    trial's seconds over its folds); a trial with no duration yet is left out."""
    return {n: d / folds * REFIT_FACTOR for n, d in durations.items() if math.isfinite(d)}


def reserve_seconds(
    oof: OutOfFold | None,
    rounds: int,
    most: int,
    estimates: Mapping[int, float],
    budget: float,
) -> float:
    """Seconds to keep at the end of a search for the ensemble, beyond the best single
    model's refit: its selection (at most a tenth of the budget) and the refits of its
    likely members (:func:`members_seconds`)."""
    if oof is None or rounds < 1 or most < 2 or len(oof.values) < 2:
        return 0.0
    one = _evaluation_seconds(len(oof.covered), max(1, len(oof.classes)), oof.metric)
    selection = rounds * len(oof.values) * len(oof.splits) * one
    return min(selection, SELECTION_SHARE * budget) + members_seconds(oof, most, estimates, budget)


def members_seconds(
    oof: OutOfFold, most: int, estimates: Mapping[int, float], budget: float
) -> float:
    """The refits of an ensemble's likely members but the best single trial (the best
    kept trials, up to ``most``), at most a quarter of the budget."""
    refits = sum(estimates.get(n, 0.0) for n in oof.ranked()[1:most])
    return min(refits, ENSEMBLE_SHARE * budget)


@functools.lru_cache(maxsize=64)
def _evaluation_seconds(rows: int, columns: int, metric: str) -> float:
    """How long scoring one blend of ``rows`` rows takes here (measured once)."""
    generator = np.random.default_rng(0)
    truth: Any = generator.integers(0, columns, rows)
    values = generator.dirichlet(np.ones(columns), rows)
    if columns == 1:
        truth, values = generator.normal(size=rows), generator.normal(size=rows)
    score = fast_metric(metric)
    started = time.perf_counter()
    for _ in range(3):
        score(truth, (values + values) / 2)
    return (time.perf_counter() - started) / 3

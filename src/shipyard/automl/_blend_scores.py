"""The search's metric on blended out-of-fold predictions, fast: NumPy on one fold's rows.

Greedy ensemble selection scores every candidate blend on every fold in every round
(thousands of scores), so it cannot afford ``score_values`` (scikit-learn, every metric, input
checks). These give the same numbers for one metric (tests hold them to ``score_values``):
AUC from ranks (Mann-Whitney, ties counted half; one-vs-rest macro for several classes),
accuracy, F1 (the last class positive, or macro), log-loss, RMSE, MAE and R².
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FoldScorer", "batch_metric", "fast_metric"]

Metric = Callable[[np.ndarray, np.ndarray], float]  # (true values or class codes, predictions)


def _rank_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _auc(codes: np.ndarray, values: np.ndarray) -> float:
    if values.shape[1] == 2:
        return _rank_auc(codes == 1, values[:, 1])
    present = [c for c in range(values.shape[1]) if 0 < int((codes == c).sum()) < len(codes)]
    return float(np.mean([_rank_auc(codes == c, values[:, c]) for c in present]))


def _accuracy(codes: np.ndarray, values: np.ndarray) -> float:
    return float(np.mean(np.argmax(values, axis=1) == codes))


def _f1_of(codes: np.ndarray, predicted: np.ndarray, label: int) -> float:
    true_pos = int(np.sum((predicted == label) & (codes == label)))
    wrong = int(np.sum((predicted == label) != (codes == label)))
    return 2 * true_pos / (2 * true_pos + wrong) if true_pos or wrong else 0.0


def _f1(codes: np.ndarray, values: np.ndarray) -> float:
    predicted = np.argmax(values, axis=1)
    if values.shape[1] == 2:
        return _f1_of(codes, predicted, 1)
    seen = np.union1d(codes, predicted)  # scikit-learn's macro average: labels seen
    return float(np.mean([_f1_of(codes, predicted, int(label)) for label in seen]))


def _log_loss(codes: np.ndarray, values: np.ndarray) -> float:
    eps = np.finfo(np.float64).eps
    picked = np.clip(values[np.arange(len(codes)), codes], eps, 1 - eps)
    return float(-np.mean(np.log(picked)))


def _rmse(y: np.ndarray, values: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - values) ** 2)))


def _mae(y: np.ndarray, values: np.ndarray) -> float:
    return float(np.mean(np.abs(y - values)))


def _r2(y: np.ndarray, values: np.ndarray) -> float:
    residual = float(np.sum((y - values) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0  # scikit-learn's finite answer
    return 1.0 - residual / total


_METRICS: dict[str, Metric] = {
    "auc": _auc,
    "accuracy": _accuracy,
    "f1": _f1,
    "log_loss": _log_loss,
    "rmse": _rmse,
    "mae": _mae,
    "r2": _r2,
}


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Each row's average ranks (from 1, ties averaged): ``rankdata`` for many rows at once."""
    count, width = scores.shape
    order = np.argsort(scores, axis=1)
    ordered = np.take_along_axis(scores, order, axis=1)
    starts = np.ones((count, width), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones((count, width), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    index = np.broadcast_to(np.arange(width), (count, width))
    first = np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, index, width - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((count, width))
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    return ranks


def _batch_rank_auc(positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    ranked = _ranks(scores)[:, positive].sum(axis=1)
    return np.asarray((ranked - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _batch_auc(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    if values.shape[2] == 2:
        return _batch_rank_auc(codes == 1, values[:, :, 1])
    present = [c for c in range(values.shape[2]) if 0 < int((codes == c).sum()) < len(codes)]
    per_class = [_batch_rank_auc(codes == c, values[:, :, c]) for c in present]
    return np.asarray(np.mean(per_class, axis=0))


_BATCH: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "auc": _batch_auc,
    "accuracy": lambda codes, values: np.mean(np.argmax(values, axis=2) == codes, axis=1),
    "rmse": lambda y, values: np.sqrt(np.mean((values - y) ** 2, axis=1)),
    "mae": lambda y, values: np.mean(np.abs(values - y), axis=1),
}


def batch_metric(metric: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The metric of many predictions at once (``values[i]`` each), one score each."""
    if metric in _BATCH:
        return _BATCH[metric]
    one = _METRICS[metric]
    return lambda truth, values: np.array([one(truth, v) for v in values])


def fast_metric(metric: str) -> Metric:
    """The metric as ``(truth, predictions) -> float``: class codes (index in the sorted
    classes) against probabilities whose rows sum to one, or values against values."""
    return _METRICS[metric]


class FoldScorer:
    """The search's metric on each fold's held-out rows, for blends of kept predictions.

    ``truth[f]`` are fold ``f``'s true values or class codes; ``parts[n][f]`` trial ``n``'s
    predictions on those rows (probabilities normalised to sum to one per row).
    """

    def __init__(self, oof: Any, numbers: list[int]) -> None:
        self.metric = fast_metric(oof.metric)
        self.batch = batch_metric(oof.metric)
        self.sign = -1.0 if oof.metric in ("rmse", "mae", "log_loss") else 1.0
        y = oof.y.to_numpy()
        if oof.task == "classification":
            index = {label: code for code, label in enumerate(oof.classes)}
            y = np.array([index[v] for v in y], dtype=np.int64)
        self.truth = [y[test] for _, test in oof.splits]
        self.parts: dict[int, list[np.ndarray]] = {}
        for number in numbers:
            matrix = np.asarray(oof.predictions[number], dtype=np.float64)
            if matrix.ndim == 2:
                matrix = matrix / matrix.sum(axis=1, keepdims=True)
            self.parts[number] = [matrix[test] for _, test in oof.splits]
        # per fold, every trial's predictions stacked (trial, row[, class]), ``numbers`` order
        self.numbers = list(numbers)
        self.stacks = [np.stack([self.parts[n][f] for n in numbers]) for f in range(self.folds)]

    @property
    def folds(self) -> int:
        return len(self.truth)

    def gains(self, fold: int, base: Any, rows: list[int], rounds: int) -> np.ndarray:
        """The gain of adding each of the stacked trials at ``rows`` to the sum ``base`` of
        the predictions chosen so far (``rounds`` with the one added): larger is better."""
        blends = (self.stacks[fold][rows] + base) / rounds
        return np.asarray(self.sign * self.batch(self.truth[fold], blends))

    def score(self, fold: int, values: np.ndarray) -> float:
        """The metric of ``values`` on fold ``fold``'s held-out rows."""
        return self.metric(self.truth[fold], values)

    def gain(self, fold: int, values: np.ndarray) -> float:
        """The score, larger is better whatever the metric."""
        return self.sign * self.score(fold, values)

    def blend(self, fold: int, counts: dict[int, int]) -> np.ndarray:
        """The weighted mean of the counted trials' predictions on one fold."""
        total = sum(counts.values())
        return sum(self.parts[n][fold] * (c / total) for n, c in counts.items())  # type: ignore[return-value]

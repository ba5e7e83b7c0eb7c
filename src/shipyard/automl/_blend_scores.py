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

__all__ = ["FoldScorer", "fast_metric"]

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

    @property
    def folds(self) -> int:
        return len(self.truth)

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

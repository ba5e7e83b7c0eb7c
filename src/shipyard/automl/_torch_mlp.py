"""A multi-layer perceptron trained with PyTorch, as a scikit-learn estimator.

The architecture search's MLP family builds this one when PyTorch is installed (extra
``shipyard[torch]``): unlike scikit-learn's MLP it has dropout, AdamW's decoupled weight
decay and a validation curve per epoch that the search prunes on (``curve_bar``: stop a fit
whose best validation loss so far is worse than the median of earlier trials at the same
epoch). Early stopping keeps the best epoch's weights.

Fitted weights are NumPy arrays and prediction is a NumPy forward pass (its ONNX form is
the same pass, ``_onnx.py``), so a registered model loads and predicts without PyTorch,
and skops stores it as plain arrays, never pickled tensors.
Written here rather than taken from skorch: skorch keeps the torch module in the fitted
estimator (pickled on save), which the registry's safe serialization refuses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from shipyard.automl._onnx import convert_torch_mlp, step_shape
from shipyard.errors import InvalidInput
from shipyard.models import register_onnx_step

__all__ = ["ACTIVATIONS", "TorchMLPClassifier", "TorchMLPRegressor", "torch_available"]

ACTIVATIONS = ("relu", "tanh", "silu")
WARMUP_EPOCHS = 10  # curves are noisy at first: no pruning before this many epochs


def torch_available() -> bool:
    """Whether PyTorch can be imported here (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


class _TorchMLP(BaseEstimator):  # type: ignore[misc]
    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (64,),
        activation: str = "relu",
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 10,
        validation_fraction: float = 0.1,
        random_state: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    # -- what the two kinds differ in ------------------------------------------------------
    _classifier = True  # the regressor sets False

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """Class codes (classifier) or the standardised target (regressor)."""
        if self._classifier:
            self.classes_, codes = np.unique(y, return_inverse=True)
            return codes.astype(np.int64)
        values = y.astype(np.float32).reshape(-1, 1)
        self.y_mean_ = float(values.mean())
        self.y_scale_ = float(values.std()) or 1.0
        return (values - self.y_mean_) / self.y_scale_

    def _outputs(self) -> int:
        return len(self.classes_) if self._classifier else 1

    def _loss(self) -> Any:
        import torch

        return torch.nn.CrossEntropyLoss() if self._classifier else torch.nn.MSELoss()

    def _stratify(self, encoded: np.ndarray) -> np.ndarray | None:
        return encoded if self._classifier else None

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        deadline: float | None = None,
        curve_bar: Sequence[float] | None = None,
    ) -> _TorchMLP:
        """Train; stop early at the validation plateau, at ``deadline`` (``time.time()``)
        or when the validation curve is worse than ``curve_bar`` at the same epoch."""
        import torch

        self._check_params()
        inputs = _dense(X)
        encoded = self._encode(np.asarray(y))
        self.n_features_in_ = inputs.shape[1]
        train_rows, val_rows = self._validation_split(encoded)
        torch.manual_seed(self.random_state)
        generator = torch.Generator().manual_seed(self.random_state)
        net = self._network(torch)
        x_train = torch.from_numpy(inputs[train_rows])
        y_train = torch.from_numpy(encoded[train_rows])
        x_val = torch.from_numpy(inputs[val_rows])
        y_val = torch.from_numpy(encoded[val_rows])
        optimiser = torch.optim.AdamW(
            net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        loss_of = self._loss()
        batch = max(1, min(int(self.batch_size), len(train_rows)))
        curve: list[float] = []
        best, best_state, since_best = np.inf, None, 0
        self.stopped_ = "max_epochs"
        started = time.time()
        for epoch in range(self.max_epochs):
            net.train()
            order = torch.randperm(len(train_rows), generator=generator)
            for start in range(0, len(order), batch):
                chosen = order[start : start + batch]
                optimiser.zero_grad()
                loss_of(net(x_train[chosen]), y_train[chosen]).backward()
                optimiser.step()
            net.eval()
            with torch.no_grad():
                value = float(loss_of(net(x_val), y_val))
            if not np.isfinite(value):
                self.stopped_ = "diverged"
                break
            curve.append(value)
            if value < best - 1e-6:
                best, since_best = value, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                since_best += 1
            if since_best >= self.patience:
                self.stopped_ = "plateau"
                break
            per_epoch = (time.time() - started) / (epoch + 1)
            if deadline is not None and time.time() + per_epoch >= deadline:
                self.stopped_ = "deadline"
                break
            if (
                curve_bar is not None
                and WARMUP_EPOCHS <= epoch < len(curve_bar)
                and best > curve_bar[epoch]
            ):
                self.stopped_ = "pruned"
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        self._keep(net, torch, curve)
        return self

    def _validation_split(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows to train on and rows to validate on (stratified by class when possible)."""
        from sklearn.model_selection import train_test_split

        rows = np.arange(len(encoded))
        validation = max(1, round(len(rows) * self.validation_fraction))
        stratify = self._stratify(encoded)
        try:
            train_rows, val_rows = train_test_split(
                rows, test_size=validation, random_state=self.random_state, stratify=stratify
            )
        except ValueError:  # a class too rare to stratify
            train_rows, val_rows = train_test_split(
                rows, test_size=validation, random_state=self.random_state
            )
        return train_rows, val_rows

    def _keep(self, net: Any, torch: Any, curve: list[float]) -> None:
        """The fitted weights as NumPy arrays, and the validation curve."""
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        self.coefs_ = [m.weight.detach().numpy().T.copy() for m in linears]
        self.intercepts_ = [m.bias.detach().numpy().copy() for m in linears]
        self.validation_curve_ = curve
        self.n_epochs_ = len(curve)

    def _check_params(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise InvalidInput(f"activation must be one of {ACTIVATIONS}; got {self.activation!r}.")
        if not 0 <= self.dropout < 1:
            raise InvalidInput(f"dropout must be in [0, 1); got {self.dropout}.")
        if not self.hidden_layer_sizes or min(self.hidden_layer_sizes) < 1:
            raise InvalidInput(
                f"hidden_layer_sizes must be positive widths; got {self.hidden_layer_sizes}."
            )
        if not 0 < self.validation_fraction < 1:
            raise InvalidInput(
                f"validation_fraction must be in (0, 1); got {self.validation_fraction}."
            )

    def _network(self, torch: Any) -> Any:
        layers: list[Any] = []
        width = self.n_features_in_
        make_activation = {
            "relu": torch.nn.ReLU,
            "tanh": torch.nn.Tanh,
            "silu": torch.nn.SiLU,
        }[self.activation]
        for size in self.hidden_layer_sizes:
            layers += [torch.nn.Linear(width, int(size)), make_activation()]
            if self.dropout > 0:
                layers.append(torch.nn.Dropout(self.dropout))
            width = int(size)
        layers.append(torch.nn.Linear(width, self._outputs()))
        return torch.nn.Sequential(*layers)

    # -- prediction: NumPy only ------------------------------------------------------------
    def _forward(self, X: Any) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "coefs_")
        values = _dense(X)
        if values.shape[1] != self.n_features_in_:
            raise InvalidInput(
                f"X has {values.shape[1]} columns; the model was fitted on {self.n_features_in_}."
            )
        last = len(self.coefs_) - 1
        for i, (weights, bias) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            values = values @ weights + bias
            if i < last:
                values = _activate(values, self.activation)
        return values


class TorchMLPClassifier(ClassifierMixin, _TorchMLP):  # type: ignore[misc]
    """PyTorch MLP classifier (softmax over the classes, cross-entropy loss)."""

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self._forward(X)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self._forward(X), axis=1)]  # type: ignore[no-any-return]


class TorchMLPRegressor(RegressorMixin, _TorchMLP):  # type: ignore[misc]
    """PyTorch MLP regressor (trained on the standardised target, squared error)."""

    _classifier = False

    def predict(self, X: Any) -> np.ndarray:
        return self._forward(X)[:, 0] * self.y_scale_ + self.y_mean_


register_onnx_step(TorchMLPClassifier, convert_torch_mlp, step_shape, classifier=True)
register_onnx_step(TorchMLPRegressor, convert_torch_mlp, step_shape)


def _dense(X: Any) -> np.ndarray:
    from scipy import sparse

    if sparse.issparse(X):
        X = X.toarray()
    values = np.asarray(X, dtype=np.float32)
    if values.ndim != 2:
        raise InvalidInput(f"X must be a 2-D table; got {values.ndim} dimension(s).")
    if not np.isfinite(values).all():
        raise InvalidInput("X has missing or infinite values; impute them first.")
    return np.ascontiguousarray(values)


def _activate(values: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.asarray(np.maximum(values, np.float32(0)))
    if activation == "tanh":
        return np.asarray(np.tanh(values))
    return np.asarray(values / (1 + np.exp(-values)))  # silu

"""The PyTorch flavor (``pip install 'shipyard[torch]'``): ``torch.export``, no pickle."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.models._flavor import Example, Predictor, Saved, labels_from, two_columns
from shipyard.models._onnx import ExportRefused
from shipyard.models._signature import Columns, Signature

__all__ = ["TorchFlavor"]


class TorchFlavor:
    """``torch.nn.Module`` saved with ``torch.export``: a graph and weights, no Python pickle.

    Inputs are the signature's columns stacked as one float32 tensor, in order; the batch
    dimension is dynamic. A classifier returns one column per class (logits or
    probabilities) or one column for P(class 1).
    """

    name = "torch"
    needs_signature = True
    packages = ("torch", "numpy")
    order = 10
    deterministic = False  # torch.export's archive is not byte-for-byte repeatable
    onnx_unsupported = "export it with torch.onnx yourself and register the ModelProto"

    def handles(self, model: Any) -> bool:
        import sys

        if "torch" not in sys.modules:
            return False
        import torch

        return isinstance(model, (torch.nn.Module, torch.export.ExportedProgram))

    def save(
        self,
        model: Any,
        *,
        serialization: str = "skops",
        trusted: Sequence[str] = (),
        example: Columns | None = None,
    ) -> Saved:
        import torch

        program = model
        if not isinstance(model, torch.export.ExportedProgram):
            if not example:
                raise InvalidInput(
                    "A PyTorch model needs example inputs to be exported: register it with "
                    "X=<training data>."
                )
            text = [name for name, v in example.items() if v.dtype.kind not in "biuf"]
            if text:
                raise InvalidInput(
                    f"A PyTorch model takes numeric inputs; columns {text} are not. Encode "
                    "them before registering."
                )
            rows = torch.from_numpy(_stack(example))
            batch = torch.export.Dim("batch", min=1)
            try:
                program = torch.export.export(model.eval(), (rows,), dynamic_shapes=({0: batch},))
            except Exception as exc:  # torch.export reports many error types
                raise InvalidInput(
                    f"torch.export cannot export the {type(model).__name__}: {exc}. Export it "
                    "yourself (torch.export.export) and register the ExportedProgram."
                ) from exc
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
        meta: dict[str, Any] = {"format": "torch-export", "output": "values"}
        if example:
            with torch.no_grad():
                out = program.module()(torch.from_numpy(_stack(example))).numpy()
            meta["output"] = _output_kind(out)
        return Saved(buffer.getvalue(), meta)

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        try:
            import torch
        except ImportError as exc:
            raise ShipyardError("This model needs PyTorch: pip install 'shipyard[torch]'.") from exc
        return torch.export.load(io.BytesIO(data)).module()

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        if sig is None:
            raise InvalidInput("A PyTorch model needs a signature; register it with X=... .")
        text = [c.name for c in sig.inputs if c.type not in ("int", "float", "bool")]
        if text:
            raise InvalidInput(
                f"A PyTorch model takes numeric inputs; columns {text} are not. Encode them "
                "inside the module or before registering."
            )
        return _TorchPredictor(model, sig, str(meta.get("output", "logits")))

    def to_onnx(self, model: Any, signature: Signature) -> tuple[bytes, str]:
        raise ExportRefused(f"ONNX export of a PyTorch model: {self.onnx_unsupported}.")

    def examples(self) -> Sequence[Example]:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return ()  # the torch extra is not installed: nothing to check
        return (
            Example("torch", _network, numeric=True, predict=_net_labels, predict_proba=_net_proba),
        )


def _stack(columns: Columns) -> np.ndarray:
    return np.column_stack([np.asarray(v, dtype=np.float32) for v in columns.values()])


def _output_kind(out: np.ndarray) -> str:
    """``probabilities`` when every training row's outputs are in [0, 1] (and sum to 1 when
    there are several), else ``logits``: decided once, at registration, never per batch."""
    in_range = bool(out.size) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    if out.ndim == 2 and out.shape[1] > 1:
        in_range = in_range and bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-4))
    return "probabilities" if in_range else "logits"


class _TorchPredictor:
    def __init__(self, model: Any, sig: Signature, output: str) -> None:
        self.model = model
        self.classes = sig.classes if sig.task == "classification" else None
        self.logits = output == "logits"

    def _raw(self, columns: Columns) -> np.ndarray:
        import torch

        with torch.no_grad():
            out: np.ndarray = self.model(torch.from_numpy(_stack(columns))).numpy()
        return out

    def predict(self, columns: Columns) -> np.ndarray:
        proba = self.predict_proba(columns)
        if proba is None:
            raw = self._raw(columns)
            return raw.reshape(-1) if raw.ndim == 2 and raw.shape[1] == 1 else raw
        return labels_from(proba, self.classes or ())

    def predict_proba(self, columns: Columns) -> np.ndarray | None:
        if not self.classes:
            return None
        raw = self._raw(columns).astype(np.float64)
        if raw.ndim == 1 or raw.shape[1] == 1:
            p = raw.reshape(-1)
            return two_columns(1.0 / (1.0 + np.exp(-p)) if self.logits else p)
        if not self.logits:
            return raw
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))  # softmax of logits
        proba: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
        return proba


# -- example for the contract battery: a small untrained network, two logits ----------------


def _network(X: Any, y: Any) -> Any:
    import torch

    torch.manual_seed(0)
    width = X.shape[1]
    return torch.nn.Sequential(torch.nn.Linear(width, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _logits(model: Any, X: Any) -> np.ndarray:
    import torch

    with torch.no_grad():
        out: np.ndarray = model(torch.from_numpy(X.to_numpy(np.float32))).numpy()
    return out


def _net_labels(model: Any, X: Any) -> np.ndarray:
    labels: np.ndarray = np.argmax(_net_proba(model, X), axis=1)
    return labels


def _net_proba(model: Any, X: Any) -> np.ndarray:
    raw = _logits(model, X).astype(np.float64)
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
    proba: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return proba


FLAVOR = TorchFlavor()

"""The ONNX flavor: a ``ModelProto`` stored as it is, run by ONNX Runtime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.models._flavor import Example, Predictor, Saved
from shipyard.models._onnx import OnnxPredictor, require
from shipyard.models._signature import Columns, Signature

__all__ = ["OnnxFlavor"]


class OnnxFlavor:
    """An ONNX ``ModelProto``; its own ONNX form is itself (converter ``none``)."""

    name = "onnx"
    needs_signature = True
    packages = ("onnxruntime", "onnx")
    order = 10
    deterministic = True
    onnx_unsupported = None

    def handles(self, model: Any) -> bool:
        return type(model).__module__.startswith("onnx") and type(model).__name__ == "ModelProto"

    def save(
        self,
        model: Any,
        *,
        serialization: str = "skops",
        trusted: Sequence[str] = (),
        example: Columns | None = None,
    ) -> Saved:
        return Saved(model.SerializeToString(), {"format": "onnx"})

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        return data  # the session is built by the predictor

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        if sig is None:
            raise InvalidInput("An ONNX model needs a signature; register it with X=... .")
        return OnnxPredictor(model, meta, sig)

    def to_onnx(self, model: Any, signature: Signature) -> tuple[bytes, str]:
        return (model if isinstance(model, bytes) else model.SerializeToString()), "none"

    def examples(self) -> Sequence[Example]:
        return (Example("onnx", _logistic, numeric=True, predict=_label, predict_proba=_proba),)


# -- example for the contract battery: a logistic regression converted by skl2onnx -----------


def _logistic(X: Any, y: Any) -> Any:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rows = X.to_numpy(np.float32)
    model = LogisticRegression(max_iter=1_000).fit(rows, y)
    return to_onnx(model, rows[:1], options={id(model): {"zipmap": False}})


def _run(model: Any, X: Any) -> list[Any]:
    ort = require("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return list(session.run(None, {name: X.to_numpy(np.float32)}))


def _label(model: Any, X: Any) -> np.ndarray:
    return np.asarray(_run(model, X)[0]).reshape(-1)


def _proba(model: Any, X: Any) -> np.ndarray:
    return np.asarray(_run(model, X)[1], dtype=np.float64)


FLAVOR = OnnxFlavor()

"""The LightGBM flavor: the booster's own text model (no code), onnxmltools for ONNX."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.models._flavor import (
    BoosterPredictor,
    Example,
    Predictor,
    Saved,
    check_fitted,
    classes_of,
)
from shipyard.models._onnx import ExportRefused, one_matrix, run_converter
from shipyard.models._signature import Columns, Signature

__all__ = ["LightGBMFlavor"]


class LightGBMFlavor:
    """LightGBM's scikit-learn models and Boosters, stored as LightGBM's text model."""

    name = "lightgbm"
    needs_signature = True
    packages = ("lightgbm", "numpy")
    order = 10
    deterministic = True
    onnx_unsupported = None

    def handles(self, model: Any) -> bool:
        module = type(model).__module__
        if not module.startswith("lightgbm"):
            return False
        import lightgbm as lgb

        return isinstance(model, (lgb.LGBMModel, lgb.Booster))

    def save(
        self,
        model: Any,
        *,
        serialization: str = "skops",
        trusted: Sequence[str] = (),
        example: Columns | None = None,
    ) -> Saved:
        import lightgbm as lgb

        if not isinstance(model, lgb.Booster):
            check_fitted(model)
        booster = model if isinstance(model, lgb.Booster) else model.booster_
        kind = "booster"
        if isinstance(model, lgb.LGBMClassifier):
            kind = "classifier"
        elif isinstance(model, lgb.LGBMRegressor):
            kind = "regressor"
        meta = {"format": "lightgbm-text", "kind": kind, "classes": classes_of(model)}
        return Saved(booster.model_to_string().encode(), meta)

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        import lightgbm as lgb

        return lgb.Booster(model_str=data.decode())

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        return BoosterPredictor(
            lambda frame: model.predict(frame, num_threads=1), meta.get("classes"), sig
        )

    def to_onnx(self, model: Any, signature: Signature) -> tuple[bytes, str]:
        return run_converter("onnxmltools", model, lambda: _convert(model, signature))

    def examples(self) -> Sequence[Example]:
        return (Example("lightgbm", _classifier),)


def _convert(model: Any, signature: Signature) -> Any:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    what = type(model).__name__
    types = [("input", FloatTensorType([None, len(signature.inputs)]))]
    booster = getattr(model, "booster_", model)
    one_matrix(signature, what, booster.num_feature(), codes=True)
    trained = [list(map(str, c)) for c in getattr(booster, "pandas_categorical", None) or ()]
    signed = [list(c.categories or ()) for c in signature.inputs if c.type == "category"]
    if trained and trained != signed:
        raise ExportRefused(
            f"The {what} was trained with categories {trained}, but the signature lists "
            f"{signed}, so category codes would not line up. Infer the signature from the "
            "training frame: infer_signature(X, y, model=model)."
        )
    return onnxmltools.convert_lightgbm(model, initial_types=types, zipmap=False)


def _classifier(X: Any, y: Any) -> Any:
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=15, n_jobs=1, verbose=-1).fit(X, y)


FLAVOR = LightGBMFlavor()

"""The XGBoost flavor: the booster's own UBJSON model (no code), onnxmltools for ONNX."""

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
from shipyard.models._onnx import one_matrix, run_converter
from shipyard.models._signature import Columns, Signature

__all__ = ["XGBoostFlavor"]


class XGBoostFlavor:
    """XGBoost's scikit-learn models and Boosters, stored as XGBoost's UBJSON model."""

    name = "xgboost"
    needs_signature = True
    packages = ("xgboost", "numpy")
    order = 10
    deterministic = True
    onnx_unsupported = None

    def handles(self, model: Any) -> bool:
        module = type(model).__module__
        if not module.startswith("xgboost"):
            return False
        import xgboost as xgb

        return isinstance(model, (xgb.XGBModel, xgb.Booster))

    def save(
        self,
        model: Any,
        *,
        serialization: str = "skops",
        trusted: Sequence[str] = (),
        example: Columns | None = None,
    ) -> Saved:
        import xgboost as xgb

        if not isinstance(model, xgb.Booster):
            check_fitted(model)
        booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        kind = "booster"
        if isinstance(model, xgb.XGBClassifier):
            kind = "classifier"
        elif isinstance(model, xgb.XGBRegressor):
            kind = "regressor"
        meta = {"format": "xgboost-ubj", "kind": kind, "classes": classes_of(model)}
        return Saved(bytes(booster.save_raw(raw_format="ubj")), meta)

    def load(self, data: bytes, meta: Mapping[str, Any]) -> Any:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(data))
        return booster

    def predictor(self, model: Any, meta: Mapping[str, Any], sig: Signature | None) -> Predictor:
        import xgboost as xgb

        def score(frame: Any) -> Any:
            return model.predict(xgb.DMatrix(frame, enable_categorical=True, nthread=1))

        return BoosterPredictor(score, meta.get("classes"), sig)

    def to_onnx(self, model: Any, signature: Signature) -> tuple[bytes, str]:
        return run_converter("onnxmltools", model, lambda: _convert(model, signature))

    def examples(self) -> Sequence[Example]:
        return (Example("xgboost", _classifier),)


def _convert(model: Any, signature: Signature) -> Any:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, len(signature.inputs)]))]
    booster = (model.get_booster() if hasattr(model, "get_booster") else model).copy()
    one_matrix(signature, type(model).__name__, booster.num_features(), codes=True)
    booster.feature_names = [f"f{i}" for i in range(booster.num_features())]  # it needs f%d
    return onnxmltools.convert_xgboost(booster, initial_types=types)


def _classifier(X: Any, y: Any) -> Any:
    import xgboost as xgb

    return xgb.XGBClassifier(
        n_estimators=15, max_depth=3, n_jobs=1, enable_categorical=True, tree_method="hist"
    ).fit(X, y)


FLAVOR = XGBoostFlavor()

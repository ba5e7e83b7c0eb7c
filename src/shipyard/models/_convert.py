"""Prove an ONNX conversion predicts what the original model does, before it is kept.

:func:`export_onnx` asks the model's flavor to convert it (``Flavor.to_onnx``) and refuses
the result unless it agrees with the native predictor on a sample.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.models._flavor import Predictor
from shipyard.models._flavors import FLAVORS
from shipyard.models._onnx import ExportRefused, ExportResult, OnnxPredictor, p50_us
from shipyard.models._signature import Columns, Signature

__all__ = ["export_onnx"]


def export_onnx(
    model: Any,
    flavor: str,
    signature: Signature,
    reference: Predictor,
    sample: Columns,
    *,
    atol: float = 1e-4,
    min_agreement: float = 0.999,
) -> ExportResult:
    """Convert ``model`` to ONNX and check that it predicts what ``reference`` does.

    Classifiers are compared on probabilities (max absolute difference) and labels (share
    of rows that agree); regressors on predictions, the difference divided by the largest
    absolute reference prediction: float32 keeps ~7 significant digits, so an absolute
    tolerance would refuse every honest conversion of a model that predicts incomes.

    Args:
        model: the fitted model (for the ``onnx`` flavor, a ModelProto or its bytes).
        flavor: the name of its flavor (an entry of ``FLAVORS`` that converts).
        signature: the model's signature.
        reference: the native predictor to compare against.
        sample: validated columns to compare on (a few thousand rows is plenty).
        atol: largest difference allowed.
        min_agreement: smallest share of rows whose labels must agree.

    Returns:
        The ONNX bytes, the meta :class:`OnnxPredictor` needs, and the figures measured.

    Raises:
        ExportRefused: the converter cannot handle the model, or the export disagrees with
            the original; ``.report`` holds the figures.
    """
    if not len(next(iter(sample.values()), ())):
        raise InvalidInput("The export check needs sample rows; got none. Pass validated rows.")
    data, converter = _convert(model, flavor, signature)
    what = type(model).__name__
    try:
        predictor = OnnxPredictor(data, {"format": "onnx"}, signature)
    except InvalidInput as exc:
        raise ExportRefused(f"The ONNX form of the {what} ({converter}) fails: {exc}") from exc
    report = {**_parity(predictor, reference, sample, signature), "converter": converter}
    report.update(atol=atol, min_agreement=min_agreement)
    agreement = report["label_agreement"]
    shown = "n/a" if agreement is None else f"{agreement:.2%}"
    if report["max_diff"] > atol or (agreement is not None and agreement < min_agreement):
        raise ExportRefused(
            f"The ONNX export of the {what} does not predict what the original does on "
            f"{report['rows']} sample rows: max difference {report['max_diff']:.3g} (allowed "
            f"{atol:g}), labels agree on {shown} (required {min_agreement:.2%}). "
            "Differences on a few rows usually come from float32: ONNX Runtime computes "
            "features in float32, so a scaler before trees can move values across split "
            "thresholds (trees need no scaling); large ones mean the converter mishandled part "
            "of the model. Keep serving the native flavor, or pass a larger atol or lower "
            "min_agreement if these figures are acceptable.",
            report,
        )
    call = predictor.predict_proba if predictor._proba is not None else predictor.predict
    one = {k: v[:1] for k, v in sample.items()}
    report.update(size_bytes=len(data), latency_p50_us=p50_us(call, one))
    return ExportResult("onnx", data, {**predictor.meta, "converter": converter}, report)


def _convert(model: Any, flavor: str, signature: Signature) -> tuple[bytes, str]:
    """The model as ONNX bytes, and the converter with its version, from its flavor."""
    chosen = FLAVORS.get(flavor)
    if chosen is None or chosen.onnx_unsupported is not None:
        # the broadest flavors (those later in detection) first: scikit-learn, then libraries
        convertible = [f for f in FLAVORS.values() if f.onnx_unsupported is None]
        supported = [f.name for f in sorted(convertible, key=lambda f: (-f.order, f.name))]
        why = "" if chosen is None else f" ({chosen.onnx_unsupported})"
        raise ExportRefused(
            f"ONNX export supports the flavors {', '.join(supported)}, got {flavor!r}{why}. "
            "Convert the model yourself and register the ModelProto."
        )
    return chosen.to_onnx(model, signature)


def _parity(
    onnx: OnnxPredictor, reference: Predictor, sample: Columns, signature: Signature
) -> dict[str, Any]:
    """How far the ONNX predictions are from the reference's on ``sample``."""
    got, want = onnx.predict(sample), np.asarray(reference.predict(sample)).reshape(-1)
    if onnx._proba is not None or signature.task == "classification":
        native = reference.predict_proba(sample)  # None: a classifier without probabilities
        diff = 0.0 if native is None else _max_diff(onnx.predict_proba(sample), native)
        compared = "labels" if native is None else "probabilities"
        report = dict(compared=compared, max_abs_diff=diff, max_diff=diff)
        return {"rows": len(got), **report, "label_agreement": float(np.mean(got == want))}
    diff = _max_diff(got, want)
    scale = float(np.max(np.abs(want.astype(np.float64)), initial=0.0)) or 1.0
    report = dict(compared="predictions / max |prediction|", scale=scale, max_abs_diff=diff)
    return {"rows": len(got), **report, "max_diff": diff / scale, "label_agreement": None}


def _max_diff(got: np.ndarray | None, want: np.ndarray | None) -> float:
    """Largest absolute difference; a NaN on one side only counts as infinite."""
    if got is None or want is None:
        return 0.0 if got is None and want is None else math.inf
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    diff = np.abs(got - want)
    diff[np.isnan(diff) & ~(np.isnan(got) & np.isnan(want))] = math.inf
    return float(np.nanmax(diff, initial=0.0))

"""Export a version to ONNX (and int8), checked against the native model before it is stored."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from shipyard import data as datasets_api
from shipyard._refs import parse_ref
from shipyard.config import current_user
from shipyard.errors import InvalidInput
from shipyard.models._api import _store, load
from shipyard.models._backend import ModelBackend
from shipyard.models._convert import export_onnx
from shipyard.models._inputs import LABEL_COLUMN
from shipyard.models._onnx import ExportResult
from shipyard.models._quantize import quantize_int8
from shipyard.models._signature import Columns, Signature
from shipyard.models._synthetic import SYNTHETIC_ROWS, synthetic_rows
from shipyard.models._types import ModelVersion
from shipyard.store import default_artifacts

__all__ = ["export", "export_as"]

EXPORT_FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)


def export(
    ref: str,
    format: str = "onnx",
    *,
    quantize: str | None = None,
    data: Any = None,
    target: str | None = None,
    rows: int = 1000,
    atol: float = 1e-4,
    min_agreement: float = 0.999,
    tolerance: float = 0.01,
) -> ModelVersion:
    """Convert a version to ONNX, check it matches, and store it with the version.

    The conversion is compared with the native model on a sample of the training data (the
    rows kept at registration, or ``data``; for a version registered without rows, rows made
    from its signature around the model's split thresholds, reported as ``"sample":
    "synthetic"``): the largest difference of probabilities (or
    predictions) and the share of equal labels. One that does not match is refused with
    the figures and not stored. With ``quantize="int8"`` the ONNX model is also quantized
    (dynamic, int8 weights) and kept only if its metric drops by at most ``tolerance``.

    Args:
        ref: the version (``churn@7``, ``churn@champion``).
        format: ``onnx``.
        quantize: ``int8`` to also store a quantized form.
        data: rows to check with instead of the stored sample: a dataset reference
            (``"loans@3"``) or a DataFrame; ``target`` names its label column.
        rows: how many rows to check at most.
        atol: largest accepted absolute difference of probabilities (or predictions).
        min_agreement: smallest accepted share of equal labels.
        tolerance: largest accepted drop of the metric for the quantized form.

    Returns:
        The version, with its ``exports`` (each with its ``report`` of figures).

    Raises:
        ExportRefused: the conversion or quantization does not match (figures attached).
        InvalidInput: no data to check with, or a model type the converters do not know.
    """
    options = {"data": data, "target": target, "rows": rows, "atol": atol}
    return export_as(
        current_user(),
        ref,
        format,
        quantize=quantize,
        min_agreement=min_agreement,
        tolerance=tolerance,
        **options,
    )


def export_as(
    actor: str | None,
    ref: str,
    format: str = "onnx",
    *,
    quantize: str | None = None,
    data: Any = None,
    target: str | None = None,
    rows: int = 1000,
    atol: float = 1e-4,
    min_agreement: float = 0.999,
    tolerance: float = 0.01,
) -> ModelVersion:
    """:func:`export`, recorded as done by ``actor`` (the platform server's signed-in user)."""
    _check_choices(format, quantize)
    store = _store()
    version_id = store.resolve_id(parse_ref("Model", ref))
    loaded = load(store.get(version_id).ref)
    info = loaded.version
    if info.signature is None:
        raise InvalidInput(
            f"Model {info.ref} has no signature, so its ONNX form cannot be fed. Register it "
            "with X=<training data>."
        )
    sig = info.signature
    sample, labels = _sample(info, sig, data, target, rows, loaded.native)
    result = export_onnx(
        loaded.native,
        info.flavor,
        info.signature,
        loaded._predictor,
        sample,
        atol=atol,
        min_agreement=min_agreement,
    )
    if data is None and info.sample_digest is None and not info.datasets:  # rows were made
        result = replace(result, report={**result.report, "sample": "synthetic"})
    info = _keep(store, info, result, actor)
    if quantize == "int8":
        quantized = quantize_int8(result, sig, sample, labels, tolerance=tolerance)
        info = _keep(store, info, quantized, actor)
    return info


def _check_choices(format: str, quantize: str | None) -> None:
    if format not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be one of {EXPORT_FORMATS}; got {format!r}.")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise InvalidInput(f"quantize must be one of {QUANTIZATIONS} or None; got {quantize!r}.")


def _keep(
    store: ModelBackend, info: ModelVersion, result: ExportResult, actor: str | None
) -> ModelVersion:
    """Store an export's bytes and record it with the version."""
    blob = default_artifacts().put_bytes(result.data)
    return store.add_export(
        info.id, result.format, blob.digest, blob.size, result.meta, result.report, actor
    )


def _sample(
    info: ModelVersion, sig: Signature, data: Any, target: str | None, rows: int, native: Any
) -> tuple[Columns, np.ndarray | None]:
    """Validated rows to check the conversion on, and their labels when known; made from
    the signature when the version was registered without any (``synthetic_rows``)."""
    if rows < 1:
        raise InvalidInput(f"rows must be at least 1, got {rows}.")
    frame: pd.DataFrame | None = None
    if isinstance(data, str):
        frame = datasets_api.resolve(data).to_pandas()
    elif isinstance(data, pd.DataFrame):
        frame = data
    elif data is not None:
        raise InvalidInput(
            f"data must be a dataset reference like 'loans@3' or a DataFrame, got "
            f"{type(data).__name__}."
        )
    elif info.sample_digest is not None:
        frame = pd.read_parquet(io.BytesIO(default_artifacts().get_bytes(info.sample_digest)))
        target = LABEL_COLUMN if LABEL_COLUMN in frame.columns else None
    elif info.datasets:
        frame = datasets_api.resolve(info.datasets[0]).to_pandas()
        target = target or sig.target
    if frame is None:
        frame = synthetic_rows(sig, native, min(rows, SYNTHETIC_ROWS))
    if len(frame) > rows:
        frame = frame.sample(rows, random_state=0) if len(frame) > 10 * rows else frame.iloc[:rows]
    labels = None
    if target is not None:
        if target not in frame.columns:
            raise InvalidInput(
                f"target {target!r} is not a column of the data (columns: "
                f"{', '.join(map(str, frame.columns[:20]))})."
            )
        labels = frame[target].to_numpy()
    return sig.validate(frame), labels

"""Int8 quantization of an exported ONNX model, kept only if its metric holds.

ONNX Runtime's dynamic quantization stores MatMul/Gemm weights as int8; it pays off on
float-heavy graphs (MLPs), and tree ensembles have nothing to quantize.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.models._onnx import ExportRefused, ExportResult, OnnxPredictor, p50_us, require
from shipyard.models._signature import Columns, Signature

__all__ = ["quantize_int8"]

BATCH_ROWS, BATCH_CALLS = 1_000, 20  # the batch latency reported


def quantize_int8(
    exported: ExportResult,
    signature: Signature,
    sample: Columns,
    labels: np.ndarray | None = None,
    *,
    tolerance: float = 0.01,
) -> ExportResult:
    """Store the float export's MatMul/Gemm weights as int8, if that keeps the metric.

    The metric is accuracy for classifiers, RMSE for regressors, against ``labels`` or,
    when None, the float model's predictions (the report says which). The drop is float
    minus int8 accuracy, or the RMSE increase over the std of the labels (or float
    predictions), so ``tolerance`` reads the same at any target scale.

    Raises:
        ExportRefused: the graph has no MatMul/Gemm (tree ensembles), or the drop exceeds
            ``tolerance``; ``.report`` holds the figures.
    """
    onnx, ort = require("onnx"), require("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if exported.format != "onnx":
        raise ExportRefused(f"Quantize the float 'onnx' export, not {exported.format!r}.")
    ops = sorted({n.op_type for n in onnx.load_model_from_string(exported.data).graph.node})
    if not {"MatMul", "Gemm"} & set(ops):
        raise ExportRefused(
            f"Nothing to quantize: the ONNX graph has no MatMul or Gemm (its operators: "
            f"{', '.join(ops)}); only float-heavy graphs such as MLPs benefit. Serve the "
            "float 'onnx' export.",
            {"operators": ops},
        )
    with tempfile.TemporaryDirectory() as tmp:
        source, ready, target = (Path(tmp, f) for f in ("float.onnx", "ready.onnx", "int8.onnx"))
        source.write_bytes(exported.data)
        try:  # shape inference first, as onnxruntime asks; symbolic shapes fail on ONNX-ML ops
            quant_pre_process(source, ready, skip_symbolic_shape=True)
            untyped = {"DefaultTensorType": onnx.TensorProto.FLOAT}  # after ONNX-ML operators
            quantize_dynamic(ready, target, weight_type=QuantType.QInt8, extra_options=untyped)
        except Exception as exc:  # the quantizer raises many unrelated types
            error = f"{type(exc).__name__}: {exc}"
            raise ExportRefused(
                f"onnxruntime {ort.__version__} could not quantize the model: {error}. Serve "
                "the float 'onnx' export.",
                {"error": error},
            ) from exc
        data = target.read_bytes()
    how = f"dynamic int8 weights (onnxruntime {ort.__version__})"
    meta = {**exported.meta, "format": "onnx-int8", "quantization": how}
    base = OnnxPredictor(exported.data, exported.meta, signature)
    small = OnnxPredictor(data, meta, signature)
    report = _metric_drop(base, small, sample, labels)
    size = len(exported.data)
    report.update(tolerance=tolerance, size_bytes_float=size, size_bytes_int8=len(data))
    report["size_ratio"] = round(size / len(data), 2)
    if report["drop"] > tolerance:
        raise ExportRefused(
            f"The int8 model loses too much: {report['metric']} {report['metric_float']:.4g} "
            f"(float) -> {report['metric_int8']:.4g} (int8), a drop of {report['drop']:.4g} "
            f"(allowed {tolerance:g}). Serve the float 'onnx' export.",
            report,
        )
    one = {k: v[:1] for k, v in sample.items()}
    batch = {k: np.resize(v, BATCH_ROWS) for k, v in sample.items()}
    for name, model in (("float", base), ("int8", small)):
        report[f"latency_p50_us_{name}"] = p50_us(model.predict, one)
        batch_us = p50_us(model.predict, batch, BATCH_CALLS)
        report[f"batch_{BATCH_ROWS}_p50_ms_{name}"] = round(batch_us / 1000, 3)
    return ExportResult("onnx-int8", data, meta, report)


def _metric_drop(
    base: OnnxPredictor, small: OnnxPredictor, sample: Columns, labels: np.ndarray | None
) -> dict[str, Any]:
    expected, got = base.predict(sample), small.predict(sample)
    truth = expected if labels is None else np.asarray(labels).reshape(-1)
    against = "labels" if labels is not None else "float model"
    if base._proba is not None or base.signature.task == "classification":
        name = "accuracy" if labels is not None else "agreement with float labels"
        before, after = float(np.mean(expected == truth)), float(np.mean(got == truth))
        drop = before - after
    else:
        truth = truth.astype(np.float64)
        name = "rmse"
        before, after = (float(np.sqrt(np.mean((p - truth) ** 2))) for p in (expected, got))
        drop = (after - before) / (float(np.std(truth)) or 1.0)
    report = dict(metric=name, metric_against=against, metric_float=before, metric_int8=after)
    return {"rows": len(truth), **report, "drop": drop}


# -- helpers ------------------------------------------------------------------------------

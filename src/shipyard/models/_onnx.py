"""ONNX at run time: serve an ONNX model fast, and the checks converters share.

:class:`OnnxPredictor` works everything out in ``__init__``, so a one-row call costs a few
microseconds over ONNX Runtime itself. Each flavor converts its own models
(``Flavor.to_onnx``, through :func:`run_converter`); ``_convert.py`` proves a conversion
predicts what the original does; quantization lives in ``_quantize.py``.

Input layouts: one input per signature column, named like it, for scikit-learn pipelines
that select columns by name (numbers and booleans as float32, which the converters
concatenate into one float tensor; integers are exact up to 2**24; nulls as NaN; text as
strings, a null as :data:`NULL_TEXT`; datetimes as int64 seconds since the Unix epoch, a
null as the smallest int64); otherwise one float32 matrix, a column per signature input
(one feed runs faster than many), with category columns as codes: the index in
``ColumnSpec.categories``, NaN for null or unknown.
"""

from __future__ import annotations

import importlib
import math
import re
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.models._signature import Columns, Signature

__all__ = [
    "NULL_TEXT",
    "NULL_TIME",
    "TEXT_TYPES",
    "ExportRefused",
    "ExportResult",
    "OnnxPredictor",
    "one_line",
    "one_matrix",
    "p50_us",
    "require",
    "run_converter",
]

LATENCY_CALLS = 200  # one-row calls timed for a p50
TEXT_TYPES = ("string", "category")  # column types fed to ONNX as strings
NULL_TEXT = "\u2400"  # a null in a text input (SYMBOL FOR NULL: not a real text value)
NULL_TIME = np.iinfo(np.int64).min  # a null in a datetime input (NaT's own integer)

Feed = Callable[[Columns], dict[str, np.ndarray]]


class ExportRefused(InvalidInput):
    """The model cannot be exported, or its export does not predict what the original does.

    Attributes:
        report: the figures that were measured (differences, agreement, sizes, errors).
    """

    def __init__(self, message: str, report: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report: dict[str, Any] = dict(report or {})


@dataclass(frozen=True)
class ExportResult:
    """A converted model, what :class:`OnnxPredictor` needs to run it, and the checks it passed.

    Attributes:
        format: ``onnx`` or ``onnx-int8``.
        data: the serialized ONNX model.
        meta: JSON-ready input layout, output names, class order and category codes.
        report: JSON-ready figures: parity, size, converter, latency.
    """

    format: str
    data: bytes
    meta: dict[str, Any]
    report: dict[str, Any]


# -- inference ----------------------------------------------------------------------------


class OnnxPredictor:
    """Runs an ONNX model through ONNX Runtime on validated columns.

    ``meta`` is what :func:`export_onnx` recorded; without ``inputs`` (a raw ModelProto)
    the layout comes from the graph: inputs named like the signature's columns, or one
    input as wide as the signature. Probabilities come in ``signature.classes`` order,
    using the class labels the graph declares when those are the signature's classes.

    Thread-safe: an ONNX Runtime session may be run concurrently.

    Raises:
        InvalidInput: the graph's inputs fit neither layout, or ONNX Runtime cannot load it.
    """

    def __init__(self, data: bytes, meta: Mapping[str, Any], signature: Signature) -> None:
        self.signature = signature
        self.session = _session(data)
        described = {} if "inputs" in meta else _describe(data, self.session, signature)
        self.meta: dict[str, Any] = {**meta, **described}
        self._feed = _feeder(self.meta, signature)
        outputs = self.meta["outputs"]
        self._label = [outputs["label"]] if outputs.get("label") else None
        self._proba = [outputs["probabilities"]] if outputs.get("probabilities") else None
        self._value = [outputs.get("value") or self.session.get_outputs()[0].name]
        self._zipmap = bool(outputs.get("zipmap"))
        self._keys = list(self.meta.get("classes") or signature.classes or ())
        wanted = list(signature.classes or self._keys)
        self._classes = np.asarray(wanted)
        self._order = None if self._keys == wanted else [self._keys.index(c) for c in wanted]
        self._run = self.session.run

    def predict(self, columns: Columns) -> np.ndarray:
        """Labels (values of ``signature.classes``) for a classifier, else 1-D values."""
        if self._label is not None:
            return np.asarray(self._run(self._label, self._feed(columns))[0]).reshape(-1)
        if self._proba is not None:
            labels: np.ndarray = self._classes[np.argmax(self._probabilities(columns), axis=1)]
            return labels
        values = self._run(self._value, self._feed(columns))[0]
        return np.asarray(values, dtype=np.float64).reshape(-1)

    def predict_proba(self, columns: Columns) -> np.ndarray | None:
        """Class probabilities, float64 of shape (rows, classes), or None for a regressor."""
        return None if self._proba is None else self._probabilities(columns)

    def _probabilities(self, columns: Columns) -> np.ndarray:
        out = self._run(self._proba, self._feed(columns))[0]
        if self._zipmap:
            out = [[row[k] for k in self._keys] for row in out]
        proba = np.asarray(out, dtype=np.float64)
        if proba.ndim == 1 or (proba.shape[1] == 1 and len(self._keys) == 2):
            proba = proba.reshape(-1)
            proba = np.column_stack([1.0 - proba, proba])
        return proba if self._order is None else proba[:, self._order]


def _session(data: bytes) -> Any:
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; shape notes would go to stderr
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime's exception types are not exported
        raise InvalidInput(
            f"ONNX Runtime {ort.__version__} cannot load the model: {exc}. Check that it is a "
            "valid ONNX model (onnx.checker.check_model) of an opset this runtime supports."
        ) from exc


def _describe(data: bytes, session: Any, signature: Signature) -> dict[str, Any]:
    """The input layout, outputs and class order, read from the graph."""
    names = signature.names
    graph = session.get_inputs()
    by_name = {i.name: i for i in graph}
    inputs: list[dict[str, Any]]
    width = graph[0].shape[-1] if len(graph) == 1 and len(graph[0].shape) == 2 else -1
    if set(names) <= set(by_name):
        inputs = [_input(by_name[n], [n]) for n in names]
    elif len(graph) == len(names) and all(map(_spelled, graph, names)):
        inputs = [_input(g, [n]) for g, n in zip(graph, names, strict=True)]
    elif width == len(names) or width is None or isinstance(width, str):  # str: a named dim
        inputs = [_input(graph[0], names)]
    else:
        shown = [f"{i.name}{i.shape}" for i in graph]
        raise InvalidInput(
            f"The ONNX model's inputs {shown} fit neither layout: expected inputs named like "
            f"the signature's columns ({', '.join(names[:10])}) or one [rows, {len(names)}] "
            "matrix. Rename the graph's inputs, or register it with a matching signature."
        )
    numeric = {n for f in inputs if f["dtype"] != "string" for n in f["columns"]}
    coded = [c for c in signature.inputs if c.type == "category" and c.name in numeric]
    codes = {c.name: list(c.categories or ()) for c in coded}
    return {"inputs": inputs, "codes": codes, **_outputs(data, session, signature)}


def _spelled(arg: Any, column: str) -> bool:
    """Whether graph input ``arg`` is ``column`` as skl2onnx spells names (C style, as
    ``loan_amount`` for ``loan amount``, a number appended when two collide)."""
    seed = re.sub(r"[^\w+]", "_", column)
    seed = "_" + seed if seed[:1].isdigit() else seed
    name = str(arg.name)
    return name == seed or (name.startswith(seed) and name[len(seed) :].isdigit())


def _input(arg: Any, columns: list[str]) -> dict[str, Any]:
    dtype = {"float": "float32", "double": "float64"}.get(arg.type[7:-1], arg.type[7:-1])
    return {"name": arg.name, "dtype": dtype, "rank": len(arg.shape), "columns": columns}


def _outputs(data: bytes, session: Any, signature: Signature) -> dict[str, Any]:
    outs = [(o.name, o.type) for o in session.get_outputs()]
    floats = [n for n, t in outs if t in ("tensor(float)", "tensor(double)")]
    if signature.task != "classification" and signature.classes is None:
        value = next((n for n in floats if n in ("variable", "predictions")), None)
        return {"outputs": {"value": value or (floats or [outs[0][0]])[0]}, "classes": None}
    maps = [n for n, t in outs if t.startswith("seq(map")]
    prob = next((n for n in floats + maps if "prob" in n.lower()), None)
    prob = prob or next(iter(floats + maps), None)
    labels = [n for n, t in outs if t in ("tensor(int64)", "tensor(string)")]
    label = next((n for n in labels if "label" in n.lower()), None) or next(iter(labels), None)
    expected = list(signature.classes or ())
    as_text = {str(c): c for c in expected}
    declared = _declared_classes(data)
    known = declared is not None and sorted(map(str, declared)) == sorted(as_text)
    classes = [as_text[str(c)] for c in declared or ()] if known else expected or declared
    label = label if known or prob is None else None  # else its values may be indices
    outputs = {"label": label, "probabilities": prob, "zipmap": prob in maps}
    return {"outputs": outputs, "classes": classes}


def _declared_classes(data: bytes) -> list[Any] | None:
    """The class labels an ONNX-ML classifier node declares, in probability order."""
    for node in require("onnx").load_model_from_string(data).graph.node:
        if node.domain == "ai.onnx.ml" and node.op_type.endswith("Classifier"):
            for attr in node.attribute:
                if attr.name == "classlabels_int64s":
                    return [int(v) for v in attr.ints]
                if attr.name == "classlabels_strings":
                    return [v.decode() for v in attr.strings]
    return None


def _feeder(meta: Mapping[str, Any], signature: Signature) -> Feed:
    """A function from validated columns to the session's feed, worked out once."""
    inputs = meta["inputs"]
    specs = {c.name: c for c in signature.inputs}
    codes = {n: {c: float(i) for i, c in enumerate(cats)}.get for n, cats in meta["codes"].items()}
    if len(inputs) == 1 and len(inputs[0]["columns"]) > 1:
        dates = [n for n in inputs[0]["columns"] if specs[n].type == "datetime"]
        if dates:
            raise InvalidInput(
                f"Columns {dates} hold datetimes, which a graph taking one float matrix cannot "
                "take; take them as int64 inputs named like the columns, or derive numeric "
                "features (e.g. day of week) in the training frame and register that model."
            )
        return _matrix(inputs[0], codes)
    plain, coded, converted = [], [], []
    for f in inputs:
        (column,) = f["columns"]
        at = (slice(None), None) if f["rank"] == 2 else slice(None)
        convert = _converter(specs[column], f["dtype"])
        if convert is not None:
            converted.append((f["name"], column, at, convert))
        elif column in codes:
            coded.append((f["name"], column, at, np.dtype(f["dtype"]), codes[column]))
        else:
            plain.append((f["name"], column, at, np.dtype(f["dtype"])))

    def feed(c: Columns) -> dict[str, np.ndarray]:
        out = {name: c[column].astype(dtype)[at] for name, column, at, dtype in plain}
        for name, column, at, convert in converted:
            out[name] = convert(c[column])[at]
        for name, column, at, dtype, get in coded:
            out[name] = np.array([get(v, math.nan) for v in c[column]], dtype)[at]
        return out

    return feed


def _converter(spec: Any, dtype: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """How a validated column becomes its graph input, when ``astype`` is not enough."""
    if dtype == "string":
        return _text_input if spec.nullable else _same
    if spec.type == "datetime":
        if dtype != "int64":
            raise InvalidInput(
                f"Column {spec.name!r} holds datetimes; the graph's input for it is {dtype}, "
                "expected int64 (seconds since the Unix epoch)."
            )
        return _epoch_seconds
    if spec.type == "bool" and spec.nullable:
        return lambda values: _bool_input(values, np.dtype(dtype))
    return None


def _same(values: np.ndarray) -> np.ndarray:
    return values


def _text_input(values: np.ndarray) -> np.ndarray:
    missing = pd.isna(values)
    return np.where(missing, NULL_TEXT, values) if missing.any() else values


def _epoch_seconds(values: np.ndarray) -> np.ndarray:
    """Datetimes as int64 seconds since the epoch; NaT stays the smallest int64. Zoned
    ones (objects) are their instants, read in UTC."""
    if values.dtype.kind != "M":
        values = pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None).to_numpy()
    seconds = np.asarray(values, dtype="datetime64[s]")
    return seconds.view(np.int64)


def _bool_input(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    if values.dtype.kind == "b":
        return values.astype(dtype)
    return np.array([math.nan if pd.isna(v) else float(v) for v in values], dtype)


def _matrix(spec: Mapping[str, Any], codes: Mapping[str, Callable[..., Any]]) -> Feed:
    """One [rows, columns] input; category columns as codes. One row takes a fast path."""
    name, dtype = spec["name"], np.dtype(spec["dtype"])
    plan = [(column, codes.get(column)) for column in spec["columns"]]
    first, width, nan = plan[0][0], len(plan), math.nan
    # validated float columns in this very order arrive as one matrix (RowColumns): fed whole
    whole = tuple(spec["columns"]) if not any(get for _, get in plan) else None

    def feed(c: Columns) -> dict[str, np.ndarray]:
        if whole is not None and getattr(c, "names", None) == whole:  # RowColumns, same order
            return {name: c.matrix.astype(dtype)}  # type: ignore[attr-defined]
        rows = len(c[first])
        if rows == 1:
            row = [c[n][0] if get is None else get(c[n][0], nan) for n, get in plan]
            return {name: np.array([row], dtype)}
        out = np.empty((rows, width), dtype)
        for j, (n, get) in enumerate(plan):
            out[:, j] = c[n] if get is None else [get(v, nan) for v in c[n]]
        return {name: out}

    return feed


# -- conversion helpers shared by flavors ------------------------------------------------


def run_converter(package: str, model: Any, convert: Callable[[], Any]) -> tuple[bytes, str]:
    """Run a flavor's ``convert`` (which returns a ModelProto) with ``package``'s converter:
    the ONNX bytes and the converter with its version; its failures become ExportRefused."""
    converter = f"{package} {require(package).__version__}"
    try:
        proto = convert()
    except ExportRefused as exc:
        if "step" not in exc.report:
            raise
        error = str(exc)  # a step of the model: say which converter, and which model
        raise ExportRefused(
            f"{converter} cannot convert the {type(model).__name__}: {error}",
            {"converter": converter, **exc.report, "error": error},
        ) from exc
    except Exception as exc:  # converters raise many unrelated types
        error = one_line(f"{type(exc).__name__}: {exc}")
        raise ExportRefused(
            f"{converter} cannot convert the {type(model).__name__}: {error}. Keep serving "
            "the native flavor, or build the model from steps the converter supports.",
            {"converter": converter, "error": error},
        ) from exc
    return proto.SerializeToString(), converter


def one_matrix(signature: Signature, what: str, features: int, *, codes: bool) -> None:
    """Check that the model takes the signature as one numeric matrix (categories as codes?)."""
    refused = ("string",) if codes else TEXT_TYPES
    text = [c.name for c in signature.inputs if c.type in refused]
    if text:
        raise ExportRefused(
            f"The {what} takes text columns {text}, but its converter needs one numeric "
            "matrix. Encode them in the model (a ColumnTransformer with a OneHotEncoder), or "
            "keep serving the native flavor."
        )
    if features != len(signature.inputs):
        raise ExportRefused(
            f"The {what} takes {features} features, but the signature has "
            f"{len(signature.inputs)} columns; register it with the training frame's signature."
        )


# -- shared -------------------------------------------------------------------------


def one_line(text: str, limit: int = 300) -> str:
    """A converter's message on one line (cut at ``limit`` characters), without its full stop."""
    flat = " ".join(text.split()).rstrip(".")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ShipyardError(
            f"ONNX export and serving need the {module!r} package, which is not installed: "
            f"pip install {module}"
        ) from exc


def p50_us(call: Callable[[Columns], Any], columns: Columns, calls: int = LATENCY_CALLS) -> float:
    """Median wall time of ``call(columns)`` in microseconds, after a short warm-up."""
    for _ in range(min(10, calls)):
        call(columns)
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call(columns)
        times.append(time.perf_counter_ns() - start)
    return round(statistics.median(times) / 1000, 1)

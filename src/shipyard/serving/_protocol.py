"""Request bodies in, response bodies out: the Open Inference Protocol v2 and plain JSON.

Both end as columns (name → values) that the model's signature then checks, so a wrong
type or unknown category is reported the same way whichever protocol carried it. Parsing is
columnar: a 1,000-row request becomes one array per column, never 1,000 Python dicts checked
one by one.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput, InvalidRequest

__all__ = [
    "check_feedback",
    "oip_columns",
    "oip_metadata",
    "oip_outputs",
    "plain_columns",
    "plain_outputs",
]

# OIP datatypes of the tensors a client may send, and those we answer with
_DATATYPES = {
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
}


def plain_columns(body: Any, names: Sequence[str]) -> tuple[dict[str, Any], int]:
    """``POST /predict`` bodies: one record (``{"age": 31, ...}``), a list of records,
    ``{"records": [...]}``, or ``{"columns": {"age": [...], ...}}``. Returns the columns and
    the row count."""
    if isinstance(body, Mapping) and "columns" in body:
        columns = body["columns"]
        if not isinstance(columns, Mapping) or not columns:
            raise InvalidRequest('"columns" must be an object of column name to a list of values.')
        lengths = set()
        for name, values in columns.items():
            if not isinstance(values, list):
                raise InvalidRequest(f'"columns.{name}" must be a list of values.')
            lengths.add(len(values))
        if len(lengths) != 1:
            raise InvalidRequest(f'"columns" lists differ in length: {sorted(lengths)}.')
        return dict(columns), lengths.pop()
    records = body.get("records") if isinstance(body, Mapping) and "records" in body else body
    if isinstance(records, Mapping):
        if any(isinstance(v, (list, dict)) for v in records.values()):
            raise InvalidRequest(
                'A record\'s values must be single values; send several rows as {"records": '
                '[...]} or {"columns": {...}}.'
            )
        return {str(k): [v] for k, v in records.items()}, 1
    if isinstance(records, list):
        if not records:
            raise InvalidRequest("The request has no rows.")
        if not all(type(r) is dict for r in records):
            raise InvalidRequest('"records" must be a list of objects, one per row.')
        if len(names) > 1:
            # Every record has every input (the usual case): transpose in C, no per-value
            # Python. Inputs the model does not take are ignored, as the signature would.
            try:
                rows = list(map(operator.itemgetter(*names), records))
            except KeyError:
                pass  # some record lacks an input: the general path below names it
            else:
                columns = zip(*rows, strict=True)
                return {n: list(c) for n, c in zip(names, columns, strict=True)}, len(rows)
        present = {k for r in records for k in r}
        wanted = [n for n in names if n in present] + sorted(present - set(names))
        return {n: [r.get(n) for r in records] for n in wanted}, len(records)
    raise InvalidRequest(
        'The body must be a record object, a list of records, {"records": [...]} or '
        '{"columns": {...}}.'
    )


def oip_columns(body: Any, names: Sequence[str]) -> tuple[dict[str, Any], int]:
    """An OIP v2 inference request: one input tensor per column (shape ``[n]`` or
    ``[n, 1]``), or one ``[n, k]`` tensor whose columns follow the signature's order."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("The inference request must be a JSON object.")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidRequest('"inputs" must be a non-empty list of tensors.')
    columns: dict[str, Any] = {}
    rows: set[int] = set()
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(tensor, Mapping):
            raise InvalidRequest(f"{where} must be an object with name, shape, datatype and data.")
        name, shape, datatype, data = (tensor.get(k) for k in ("name", "shape", "datatype", "data"))
        if not isinstance(name, str):
            raise InvalidRequest(f"{where}.name must be a string.")
        where = f"input {name!r}"
        if not (
            isinstance(shape, list)
            and 1 <= len(shape) <= 2
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise InvalidRequest(f"{where}: shape must be [rows] or [rows, columns].")
        if datatype not in _DATATYPES:
            raise InvalidRequest(
                f"{where}: datatype must be one of {', '.join(sorted(_DATATYPES))}."
            )
        if not isinstance(data, list):
            raise InvalidRequest(f"{where}: data must be a list.")
        flat = _flatten(data, where)
        size = math.prod(shape)  # Python ints: no overflow
        if len(flat) != size:
            raise InvalidRequest(
                f"{where}: shape {shape} holds {size} values; data has {len(flat)}."
            )
        if len(shape) == 2 and shape[1] != 1:
            if len(inputs) != 1:
                raise InvalidRequest(
                    f"{where}: a [rows, columns] tensor must be the only input; send one "
                    "tensor per column otherwise."
                )
            if shape[1] != len(names):
                raise InvalidInput(
                    f"{where} has {shape[1]} columns; the model takes {len(names)} "
                    f"({', '.join(names[:10])})."
                )
            matrix = np.fromiter(flat, dtype=object, count=len(flat)).reshape(shape)
            return {n: matrix[:, j] for j, n in enumerate(names)}, shape[0]
        columns[name] = flat
        rows.add(shape[0])
    if len(rows) != 1:
        raise InvalidRequest(f"Input tensors differ in rows: {sorted(rows)}.")
    count = rows.pop()
    if count == 0:
        raise InvalidRequest("The request has no rows.")
    return columns, count


def _flatten(data: list[Any], where: str) -> list[Any]:
    if data and isinstance(data[0], list):  # nested rows ([[1], [2]]): flatten one level
        flat: list[Any] = []
        for row in data:
            if not isinstance(row, list):
                raise InvalidRequest(f"{where}: data mixes nested and flat values.")
            flat.extend(row)
        return flat
    return data


def plain_outputs(labels: np.ndarray, proba: np.ndarray | None) -> dict[str, Any]:
    """``/predict``'s answer: predictions, and probabilities where the model has them."""
    out: dict[str, Any] = {"predictions": labels.tolist()}
    if proba is not None:
        out["probabilities"] = np.round(proba, 6).tolist()
    return out


def oip_outputs(labels: np.ndarray, proba: np.ndarray | None) -> list[dict[str, Any]]:
    """OIP output tensors: ``predict`` (labels or values) and ``predict_proba``."""
    outputs = [
        {
            "name": "predict",
            "shape": [len(labels)],
            "datatype": _datatype(labels),
            "data": labels.tolist(),
        }
    ]
    if proba is not None:
        outputs.append(
            {
                "name": "predict_proba",
                "shape": list(proba.shape),
                "datatype": "FP64",
                "data": np.round(proba, 6).ravel().tolist(),
            }
        )
    return outputs


def _datatype(values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"


# -- OpenAPI descriptions of the bodies (the parsing above is what enforces them) ----------

MAX_LABEL_DEPTH = 8  # a label is a value, or a list of values (a row's may be a list too)
_SCALAR: dict[str, Any] = {"type": ["string", "number", "integer", "boolean", "null"]}
_RECORD: dict[str, Any] = {"type": "object", "additionalProperties": _SCALAR}
PREDICT_BODY: dict[str, Any] = {
    "oneOf": [
        {**_RECORD, "description": "One record: column name to value."},
        {"type": "array", "items": _RECORD, "minItems": 1, "description": "A list of records."},
        {
            "type": "object",
            "required": ["records"],
            "properties": {"records": {"type": "array", "items": _RECORD, "minItems": 1}},
        },
        {
            "type": "object",
            "required": ["columns"],
            "properties": {
                "columns": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"type": "array", "minItems": 1},
                }
            },
        },
    ]
}
_TENSOR: dict[str, Any] = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": sorted(_DATATYPES)},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}
INFER_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {"type": "array", "items": {"type": "object"}},
        "parameters": {"type": "object"},
    },
}
_FEEDBACK: dict[str, Any] = {
    "type": "object",
    "required": ["id"],
    "anyOf": [  # a label or a reward (a null one is none)
        {"required": ["label"], "properties": {"label": {"not": {"type": "null"}}}},
        {"required": ["reward"], "properties": {"reward": {"type": "number"}}},
    ],
    "properties": {
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "description": "The request id the answer carried.",
        },
        "label": {  # any JSON: a value, or a list of values (one per row)
            "description": "The true label or value; lists and objects nest at most "
            f"{MAX_LABEL_DEPTH} levels.",
        },
        "reward": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    },
}
FEEDBACK_BODY: dict[str, Any] = {
    "oneOf": [_FEEDBACK, {"type": "array", "items": _FEEDBACK, "minItems": 1}]
}


def body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is read by hand."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# the OIP datatype of each signature type, for model metadata
_OIP_TYPES = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}


def oip_metadata(name: str, loaded: Sequence[Any]) -> dict[str, Any]:
    """The Open Inference Protocol's model metadata of the loaded versions served under
    ``name`` (the first one's signature describes the inputs)."""
    first = loaded[0]
    signature = first.signature
    inputs = [
        {"name": spec.name, "datatype": _OIP_TYPES.get(spec.type, "BYTES"), "shape": [-1]}
        for spec in (signature.inputs if signature is not None else [])
    ]
    outputs = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
    if first.classes is not None:
        width = len(first.classes)
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
    return {
        "name": name,
        "versions": sorted({str(m.version.version) for m in loaded}, key=int),
        "platform": f"shipyard-{first.version.flavor}-{first.format}",
        "inputs": inputs,
        "outputs": outputs,
    }


MAX_FEEDBACK = 10_000  # items per /feedback request: one push to the evidence store each


def check_feedback(items: list[Any]) -> None:
    """Feedback items (``{"id", "label", "reward"}``, at most ``MAX_FEEDBACK`` of them),
    or InvalidRequest naming the one at fault."""
    if not items or not all(isinstance(i, dict) for i in items):
        raise InvalidRequest('Send {"id": ..., "label": ..., "reward": ...} or a list.')
    if len(items) > MAX_FEEDBACK:
        raise InvalidRequest(
            f"feedback: at most {MAX_FEEDBACK:,} items a request, got {len(items):,}; "
            "send them in several requests."
        )
    for i, item in enumerate(items):
        request_id = item.get("id")
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 128:
            raise InvalidRequest(f"feedback[{i}].id must be a request id (text).")
        if not request_id.isprintable():
            raise InvalidRequest(
                f"feedback[{i}].id must be a request id: printable characters only."
            )
        reward = item.get("reward")
        if reward is not None and (
            isinstance(reward, bool) or not isinstance(reward, (int, float))
            or not 0 <= reward <= 1
        ):  # fmt: skip
            raise InvalidRequest(f"feedback[{i}].reward must be a number in [0, 1].")
        if item.get("label") is None and reward is None:  # a null label is no label
            raise InvalidRequest(f"feedback[{i}] needs a label or a reward.")
        if _depth(item.get("label")) > MAX_LABEL_DEPTH:
            raise InvalidRequest(
                f"feedback[{i}].label nests more than {MAX_LABEL_DEPTH} levels of lists or "
                "objects; expected a value, or a list of values (one per row)."
            )


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (0 for a scalar), without recursion
    (a body nested a thousand levels deep must not exhaust the stack), stopping early."""
    deepest, level, todo = 0, 0, [value]
    while todo and deepest <= MAX_LABEL_DEPTH:
        level += 1
        nested = [v for item in todo if isinstance(item, (list, dict)) for v in (
            item.values() if isinstance(item, dict) else item
        )]  # fmt: skip
        if any(isinstance(item, (list, dict)) for item in todo):
            deepest = level
        todo = nested
    return deepest

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

from shipyard.errors import InvalidInput

__all__ = ["BadRequest", "oip_columns", "oip_outputs", "plain_columns", "plain_outputs"]

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


class BadRequest(ValueError):
    """The body is not what the protocol describes (answered 400, not 422)."""


def plain_columns(body: Any, names: Sequence[str]) -> tuple[dict[str, Any], int]:
    """``POST /predict`` bodies: one record (``{"age": 31, ...}``), a list of records,
    ``{"records": [...]}``, or ``{"columns": {"age": [...], ...}}``. Returns the columns and
    the row count."""
    if isinstance(body, Mapping) and "columns" in body:
        columns = body["columns"]
        if not isinstance(columns, Mapping) or not columns:
            raise BadRequest('"columns" must be an object of column name to a list of values.')
        lengths = set()
        for name, values in columns.items():
            if not isinstance(values, list):
                raise BadRequest(f'"columns.{name}" must be a list of values.')
            lengths.add(len(values))
        if len(lengths) != 1:
            raise BadRequest(f'"columns" lists differ in length: {sorted(lengths)}.')
        return dict(columns), lengths.pop()
    records = body.get("records") if isinstance(body, Mapping) and "records" in body else body
    if isinstance(records, Mapping):
        if any(isinstance(v, (list, dict)) for v in records.values()):
            raise BadRequest(
                'A record\'s values must be single values; send several rows as {"records": '
                '[...]} or {"columns": {...}}.'
            )
        return {str(k): [v] for k, v in records.items()}, 1
    if isinstance(records, list):
        if not records:
            raise BadRequest("The request has no rows.")
        if not all(type(r) is dict for r in records):
            raise BadRequest('"records" must be a list of objects, one per row.')
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
    raise BadRequest(
        'The body must be a record object, a list of records, {"records": [...]} or '
        '{"columns": {...}}.'
    )


def oip_columns(body: Any, names: Sequence[str]) -> tuple[dict[str, Any], int]:
    """An OIP v2 inference request: one input tensor per column (shape ``[n]`` or
    ``[n, 1]``), or one ``[n, k]`` tensor whose columns follow the signature's order."""
    if not isinstance(body, Mapping):
        raise BadRequest("The inference request must be a JSON object.")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest('"inputs" must be a non-empty list of tensors.')
    columns: dict[str, Any] = {}
    rows: set[int] = set()
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(tensor, Mapping):
            raise BadRequest(f"{where} must be an object with name, shape, datatype and data.")
        name, shape, datatype, data = (tensor.get(k) for k in ("name", "shape", "datatype", "data"))
        if not isinstance(name, str):
            raise BadRequest(f"{where}.name must be a string.")
        where = f"input {name!r}"
        if not (
            isinstance(shape, list)
            and 1 <= len(shape) <= 2
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise BadRequest(f"{where}: shape must be [rows] or [rows, columns].")
        if datatype not in _DATATYPES:
            raise BadRequest(f"{where}: datatype must be one of {', '.join(sorted(_DATATYPES))}.")
        if not isinstance(data, list):
            raise BadRequest(f"{where}: data must be a list.")
        flat = _flatten(data, where)
        size = math.prod(shape)  # Python ints: no overflow
        if len(flat) != size:
            raise BadRequest(f"{where}: shape {shape} holds {size} values; data has {len(flat)}.")
        if len(shape) == 2 and shape[1] != 1:
            if len(inputs) != 1:
                raise BadRequest(
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
        raise BadRequest(f"Input tensors differ in rows: {sorted(rows)}.")
    count = rows.pop()
    if count == 0:
        raise BadRequest("The request has no rows.")
    return columns, count


def _flatten(data: list[Any], where: str) -> list[Any]:
    if data and isinstance(data[0], list):  # nested rows ([[1], [2]]): flatten one level
        flat: list[Any] = []
        for row in data:
            if not isinstance(row, list):
                raise BadRequest(f"{where}: data mixes nested and flat values.")
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

_SCALAR: dict[str, Any] = {"type": ["string", "number", "integer", "boolean", "null"]}
_RECORD: dict[str, Any] = {"type": "object", "additionalProperties": _SCALAR}
PREDICT_BODY: dict[str, Any] = {
    "oneOf": [
        {**_RECORD, "description": "One record: column name to value."},
        {"type": "array", "items": _RECORD, "description": "A list of records."},
        {
            "type": "object",
            "required": ["records"],
            "properties": {"records": {"type": "array", "items": _RECORD}},
        },
        {
            "type": "object",
            "required": ["columns"],
            "properties": {
                "columns": {"type": "object", "additionalProperties": {"type": "array"}}
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
    "properties": {
        "id": {"type": "string", "description": "The request id the answer carried."},
        "label": {**_SCALAR, "description": "The true label or value."},
        "reward": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
FEEDBACK_BODY: dict[str, Any] = {"oneOf": [_FEEDBACK, {"type": "array", "items": _FEEDBACK}]}


def body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is read by hand."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}

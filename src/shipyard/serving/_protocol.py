"""Request bodies in, response bodies out: the Open Inference Protocol v2 and plain JSON.

Both end as columns (name → values) that the model's signature then checks, so a wrong
type or unknown category is reported the same way whichever protocol carried it. Parsing is
columnar: a 1,000-row request becomes one array per column, never 1,000 Python dicts checked
one by one.
"""

from __future__ import annotations

import abc
import itertools
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from shipyard.errors import InvalidInput, InvalidRequest, PayloadTooLarge

__all__ = [
    "DATATYPES",
    "RequestBody",
    "check_feedback",
    "check_rows",
    "count_rows",
    "oip_columns",
    "parse_json",
    "plain_columns",
    "plain_outputs",
    "refuse_nested",
    "validated",
]

# OIP datatypes of the tensors a client may send and we answer with: their NumPy form as
# binary tensor data carries them (little-endian; BOOL one byte; BYTES length-prefixed)
DATATYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": "O",
}


class RequestBody(abc.ABC):
    """A request body read only when the service needs it (an HTTP stream, checked for
    size as it arrives): :meth:`load` returns the parsed JSON or raises InvalidRequest /
    PayloadTooLarge. The service also takes an already parsed body."""

    @abc.abstractmethod
    async def load(self) -> Any: ...


def parse_json(raw: bytes) -> Any:
    """A JSON body, or InvalidRequest (400) saying why it is not."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}.") from exc


def check_rows(body: Any, endpoint: str, most: int) -> None:
    """PayloadTooLarge (413) for a request of more than ``most`` rows, counted on the
    parsed structure before anything converts or validates it (``endpoint``: ``infer`` for
    the Open Inference Protocol, else plain JSON)."""
    rows = count_rows(body, endpoint)
    if rows > most:
        raise PayloadTooLarge(
            f"The request has {rows:,} rows; this server takes at most {most:,} per request "
            "(--max-rows): send several requests."
        )


def count_rows(body: Any, endpoint: str) -> int:
    """The rows a parsed request body holds as its structure says (0 when it says nothing
    clear: the parser then names what is wrong): list lengths, a tensor's first dimension."""
    if endpoint == "infer":
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return 0
        shapes = (t.get("shape") for t in inputs if isinstance(t, dict))
        firsts = [s[0] for s in shapes if isinstance(s, list) and s and type(s[0]) is int]
        return max(firsts, default=0)
    if isinstance(body, list):
        return len(body)
    if not isinstance(body, dict):
        return 0
    if "columns" in body:  # as ``plain_columns`` reads it: "columns" wins over "records"
        columns = body["columns"]
        if not isinstance(columns, dict):
            return 0
        return max((len(v) for v in columns.values() if isinstance(v, list)), default=0)
    records = body.get("records")
    return len(records) if isinstance(records, list) else 1


def plain_columns(body: Any, names: Sequence[str]) -> tuple[dict[str, Any], int]:
    """``POST /predict`` bodies: one record (``{"age": 31, ...}``), a list of records,
    ``{"records": [...]}``, or ``{"columns": {"age": [...], ...}}``. Returns the columns and
    the row count."""
    if isinstance(body, Mapping) and "columns" in body:
        columns = body["columns"]
        if not isinstance(columns, Mapping) or not columns:
            raise InvalidRequest('"columns" must be an object of column name to a list of values.')
        lengths, known = set(), set(names)
        for name, values in columns.items():
            if not isinstance(values, list):
                raise InvalidRequest(f'"columns.{name}" must be a list of values.')
            if name not in known and not _NESTED.isdisjoint(map(type, values)):
                raise InvalidRequest(_nested_message(f'"columns.{name}"'))  # (see validated)
            lengths.add(len(values))
        if len(lengths) != 1:
            raise InvalidRequest(f'"columns" lists differ in length: {sorted(lengths)}.')
        return dict(columns), lengths.pop()
    records = body.get("records") if isinstance(body, Mapping) and "records" in body else body
    if isinstance(records, Mapping):
        nested = next((k for k, v in records.items() if type(v) in _NESTED), None)
        if nested is not None:
            raise InvalidRequest(
                f"Column {nested!r}: a record's values must be single values; send several "
                'rows as {"records": [...]} or {"columns": {...}}.'
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
                if set(map(len, records)) != {len(names)}:  # keys the model does not take
                    unused = {k for r in records for k in r} - set(names)
                    refuse_nested({n: [r.get(n) for r in records] for n in sorted(unused)})
                transposed = zip(*rows, strict=True)
                return {n: list(c) for n, c in zip(names, transposed, strict=True)}, len(rows)
        present = {k for r in records for k in r}
        extra = sorted(present - set(names))
        taken = {n: [r.get(n) for r in records] for n in names if n in present}
        others = {n: [r.get(n) for r in records] for n in extra}
        refuse_nested(others)  # the model's own columns: see validated
        return {**taken, **others}, len(records)
    raise InvalidRequest(
        'The body must be a record object, a list of records, {"records": [...]} or '
        '{"columns": {...}}.'
    )


# A value that is a list or an object: never one row's value of a column. Checked by type,
# in C (``map(type, ...)`` against this set), not by a Python loop over the values.
_NESTED = frozenset({list, dict})


def _nested_message(where: str) -> str:
    return (
        f"{where}: each value must be a single value (a number, text, true/false or null), "
        "not a list or an object."
    )


def refuse_nested(columns: Mapping[str, Any]) -> None:
    """InvalidRequest (400) naming the first column holding a list or an object."""
    for name, values in columns.items():
        if not _NESTED.isdisjoint(map(type, values)):
            raise InvalidRequest(_nested_message(f"Column {name!r}"))


def validated(model: Any, columns: Mapping[str, Any]) -> Any:
    """The parsed columns checked against the model's signature (``model.validate``).

    A list or object where a row's value belongs is the body's fault, a 400 naming the
    column, never the model's: the signature's check refuses every such value of the
    columns the model takes (its type scan of each column, done anyway), and only then are
    the columns searched for one, so a body of plain values pays nothing more. The parsers
    search the columns the model does not take themselves (they are passed on to shadows).
    """
    try:
        return model.validate(columns)
    except InvalidInput:
        refuse_nested(columns)
        raise


def oip_columns(body: Any, names: Sequence[str]) -> tuple[dict[str, Any], int]:
    """An OIP v2 inference request: one input tensor per column (shape ``[n]`` or
    ``[n, 1]``), or one ``[n, k]`` tensor whose columns follow the signature's order.
    A tensor's ``data`` is flat or nested exactly as its shape says (ragged rows, or values
    nested deeper than the shape, are refused); binary tensors (``_oip_binary``) arrive as
    flat NumPy arrays."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("The inference request must be a JSON object.")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidRequest('"inputs" must be a non-empty list of tensors.')
    columns: dict[str, Any] = {}
    rows: set[int] = set()
    known = set(names)
    for i, tensor in enumerate(inputs):
        name, shape, flat = _tensor(tensor, i)
        where = f"input {name!r}"
        if name not in known and not _NESTED.isdisjoint(map(type, flat)):
            raise InvalidRequest(_nested_message(where))  # (the model's own: see validated)
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
            if isinstance(flat, np.ndarray):
                matrix = flat.reshape(shape)
            else:
                matrix = np.fromiter(flat, dtype=object, count=len(flat)).reshape(shape)
            return {n: matrix[:, j] for j, n in enumerate(names)}, shape[0]
        if name in columns:  # which one would the model get? (the last, silently, before)
            raise InvalidRequest(f"{where} is sent twice; send each input tensor once.")
        columns[name] = flat
        rows.add(shape[0])
    if len(rows) != 1:
        raise InvalidRequest(f"Input tensors differ in rows: {sorted(rows)}.")
    count = rows.pop()
    if count == 0:
        raise InvalidRequest("The request has no rows.")
    return columns, count


def _tensor(tensor: Any, i: int) -> tuple[str, list[int], Any]:
    """One input tensor's name, shape and flat values, each checked."""
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
    if datatype not in DATATYPES:
        raise InvalidRequest(f"{where}: datatype must be one of {', '.join(sorted(DATATYPES))}.")
    if isinstance(data, np.ndarray):  # decoded from binary tensor data: flat already
        flat: Any = data
    elif isinstance(data, list):
        flat = _flatten(data, shape, where)
    else:
        parameters = tensor.get("parameters")
        binary = isinstance(parameters, Mapping) and "binary_data_size" in parameters
        hint = "; binary data needs the Inference-Header-Content-Length header" if binary else ""
        raise InvalidRequest(f"{where}: data must be a list{hint}.")
    size = math.prod(shape)  # Python ints: no overflow
    if len(flat) != size:
        raise InvalidRequest(f"{where}: shape {shape} holds {size} values; data has {len(flat)}.")
    return name, shape, flat


def _flatten(data: list[Any], shape: list[int], where: str) -> list[Any]:
    """``data`` flat (row-major), or nested exactly as ``shape`` says: ``[[1, 2], [3, 4]]``
    for ``[2, 2]``; ragged rows or values nested deeper than the shape are refused."""
    if not data or type(data[0]) not in _NESTED:
        return data  # flat: a list or object further on is refused by ``validated``
    deeper = f"{where}: data nests lists or objects deeper than its shape {shape}"
    if len(shape) == 1:
        raise InvalidRequest(f"{deeper}; send {shape[0]} single values.")
    if len(data) != shape[0] or not all(type(row) is list and len(row) == shape[1] for row in data):
        raise InvalidRequest(
            f"{where}: nested data must be {shape[0]} rows of {shape[1]} values each, as its "
            f"shape {shape} says (flat values in row-major order are accepted too)."
        )
    flat = list(itertools.chain.from_iterable(data))
    if not _NESTED.isdisjoint(map(type, flat)):
        raise InvalidRequest(f"{deeper}; each value must be a single value.")
    return flat


def plain_outputs(labels: np.ndarray, proba: np.ndarray | None) -> dict[str, Any]:
    """``/predict``'s answer: predictions, and probabilities where the model has them."""
    out: dict[str, Any] = {"predictions": labels.tolist()}
    if proba is not None:
        out["probabilities"] = _lists(np.round(proba, 6))
    return out


def _lists(matrix: np.ndarray, chunk: int = 4096) -> list[Any]:
    """``matrix.tolist()``, built ``chunk`` rows at a time: a big answer is built in a
    thread, and between chunks the event loop gets the interpreter back."""
    if len(matrix) <= chunk:
        return matrix.tolist()  # type: ignore[no-any-return]
    rows: list[Any] = []
    for start in range(0, len(matrix), chunk):
        rows.extend(matrix[start : start + chunk].tolist())
    return rows


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
        "datatype": {"type": "string", "enum": sorted(DATATYPES)},
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
        "outputs": {
            "type": "array",
            "minItems": 1,
            "description": "The outputs to answer (predict, predict_proba); all without it.",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "parameters": {
                        "type": "object",
                        "properties": {"binary_data": {"type": "boolean"}},
                    },
                },
            },
        },
        "parameters": {
            "type": "object",
            "properties": {"binary_data_output": {"type": "boolean"}},
        },
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

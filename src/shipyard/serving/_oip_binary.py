"""The Open Inference Protocol's binary tensor data extension, as tritonclient and KServe's
clients use it for large tensors.

A request with the header ``Inference-Header-Content-Length: N`` is N bytes of JSON (the
inference request) followed by the raw data of its binary inputs, in their order: such an
input carries ``parameters.binary_data_size`` (its bytes) instead of ``data``. Numbers are
little-endian, BOOL one byte a value, BYTES each value's length (4 bytes, little-endian)
then its UTF-8 bytes. Sizes that do not add up to the body, a tensor both binary and JSON,
or bytes that are not a whole number of values are refused (400); the body limit (413)
holds as for JSON. The values then go through the same checks as JSON ones (shape, the
model's signature).

An output asked for as binary (``parameters.binary_data`` on it, or the request's
``parameters.binary_data_output``) is answered the same way: :func:`render` writes the
answer's JSON, then each binary output's bytes, with ``Inference-Header-Content-Length``
saying where the JSON ends and ``parameters.binary_data_size`` on each such output.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from shipyard.errors import InvalidRequest
from shipyard.serving._protocol import DATATYPES, parse_json

__all__ = ["HEADER", "decode", "encode", "render"]

HEADER = "inference-header-content-length"
_LENGTH = struct.Struct("<I")  # a BYTES value's length prefix


def decode(raw: bytes, header: str, check: Callable[[Any], Any] | None = None) -> Any:
    """The inference request in ``raw`` whose JSON is its first ``header`` bytes, each
    binary input's values put in its ``data`` (see the module docstring). ``check`` sees
    the JSON before any binary value is decoded (the row limit: a small body of BYTES
    values is millions of Python strings)."""
    # ASCII digits only, and no more of them than a body size has: ``"²".isdigit()`` is
    # true and ``int()`` refuses 4,300+ digits, neither may reach it (a 500 otherwise)
    text = header.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 20) or not (
        0 < int(text) <= len(raw)
    ):
        raise InvalidRequest(
            f"Inference-Header-Content-Length must be the size in bytes of the JSON that "
            f"starts the body (1 to {len(raw):,}), got {header[:40]!r}."
        )
    start = int(text)
    body = parse_json(raw[:start])
    if check is not None:
        check(body)
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        return body  # the protocol's parser says what is wrong with it
    view, offset = memoryview(raw), start
    for tensor in inputs:
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
            continue
        where = f"input {tensor.get('name')!r}"
        size = parameters["binary_data_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidRequest(f"{where}: binary_data_size must be a number of bytes.")
        if "data" in tensor:
            raise InvalidRequest(f"{where}: has both data and binary_data_size; send one.")
        if offset + size > len(raw):
            raise InvalidRequest(
                f"{where}: binary_data_size {size:,} runs past the end of the body "
                f"({len(raw) - offset:,} bytes left)."
            )
        chunk = view[offset : offset + size]
        tensor["data"] = _values(chunk, tensor.get("datatype"), where, _count(tensor))
        offset += size
    if offset != len(raw):
        raise InvalidRequest(
            f"{len(raw) - offset:,} bytes follow the binary inputs: their binary_data_size "
            f"add up to {offset - start:,}, the body holds {len(raw) - start:,} after the JSON."
        )
    return body


def _count(tensor: dict[str, Any]) -> int | None:
    """The values a tensor's shape says it holds (None for a malformed shape: the
    protocol's parser names it)."""
    shape = tensor.get("shape")
    if isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape):
        return math.prod(shape)
    return None


def _values(chunk: memoryview, datatype: Any, where: str, count: int | None) -> np.ndarray:
    code = DATATYPES.get(datatype) if isinstance(datatype, str) else None
    if code is None:
        raise InvalidRequest(f"{where}: datatype must be one of {', '.join(sorted(DATATYPES))}.")
    if datatype == "BYTES":
        return _strings(bytes(chunk), where, count)
    width = np.dtype(code).itemsize
    if len(chunk) % width:
        raise InvalidRequest(
            f"{where}: {len(chunk):,} bytes are not a whole number of {datatype} values "
            f"({width} bytes each)."
        )
    if datatype == "BOOL":
        flags = np.frombuffer(chunk, dtype=np.uint8)
        if flags.size and flags.max() > 1:
            raise InvalidRequest(f"{where}: BOOL values must be bytes 0 or 1.")
        return flags.astype(bool)
    return np.frombuffer(chunk, dtype=code)


def _strings(data: bytes, where: str, count: int | None) -> np.ndarray:
    """BYTES values: each a 4-byte little-endian length, then that many UTF-8 bytes; no
    more than ``count`` (the shape's) are decoded."""
    values: list[str] = []
    at, end = 0, len(data)
    while at < end:
        if count is not None and len(values) == count:
            raise InvalidRequest(
                f"{where}: its binary data holds more BYTES values than its shape's {count:,}."
            )
        if at + 4 > end:
            raise InvalidRequest(f"{where}: BYTES data ends inside a length prefix.")
        (length,) = _LENGTH.unpack_from(data, at)
        at += 4
        if at + length > end:
            raise InvalidRequest(f"{where}: a BYTES value of {length:,} bytes runs past its data.")
        try:
            values.append(data[at : at + length].decode())
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"{where}: BYTES values must be UTF-8 text ({exc}).") from exc
        at += length
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def encode(values: np.ndarray, datatype: str) -> bytes:
    """A tensor's values as binary tensor data (row-major)."""
    if datatype == "BYTES":
        parts = []
        for value in values.ravel().tolist():
            text = str(value).encode()
            parts += [_LENGTH.pack(len(text)), text]
        return b"".join(parts)
    return np.ascontiguousarray(values, dtype=DATATYPES[datatype]).tobytes()


def render(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """An inference answer's body and extra headers: JSON alone, or JSON followed by the
    bytes of its binary outputs (``Inference-Header-Content-Length`` says where the JSON
    ends; the body is then ``application/octet-stream``)."""
    chunks = []
    for output in payload.get("outputs") or ():
        parameters = output.get("parameters")
        if parameters is not None and parameters.get("binary_data") is True:
            data = encode(output.pop("data"), output["datatype"])
            output["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
    head = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return head, {}
    return b"".join([head, *chunks]), {
        HEADER: str(len(head)),
        "content-type": "application/octet-stream",
    }

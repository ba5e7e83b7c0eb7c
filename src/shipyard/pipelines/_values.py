"""How a step's output (or a pipeline's parameter) is stored and read back.

Each kind of value is one entry of :data:`VALUE_KINDS`, tried in order: the first whose
``accepts`` says yes writes the value (``dump`` returns bytes and a small JSON ``meta``) and
reads it back (``load``). Plain JSON values, Arrow tables and DataFrames (as Parquet), NumPy
arrays, references to dataset and model versions, and, last, any object the pickle protocol
can write (fitted estimators, say; written by cloudpickle so classes defined in a script
travel too). What none of them can write (a generator, a lock, an open file) fails the step
with a message naming the type.

Nothing heavy is imported here at module level: this module runs in every pipeline worker.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["INLINE_LIMIT", "VALUE_KINDS", "Stored", "ValueKind", "dump", "load"]

#: Values at most this many bytes are kept in the metadata row; larger ones in the artifact
#: store (content-addressed).
INLINE_LIMIT = 4096


@dataclass(frozen=True)
class Stored:
    """A stored value: its kind, sha256 digest and size, the bytes when small (else in the
    artifact store under the digest), and the kind's meta."""

    kind: str
    digest: str
    size: int
    inline: bytes | None
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "digest": self.digest,
            "size": self.size,
            "inline": None if self.inline is None else self.inline.decode("latin-1"),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stored:
        inline = data.get("inline")
        return cls(
            data["kind"],
            data["digest"],
            int(data["size"]),
            None if inline is None else inline.encode("latin-1"),
            dict(data.get("meta") or {}),
        )


@dataclass(frozen=True)
class ValueKind:
    """One kind of storable value."""

    name: str
    accepts: Callable[[Any], bool]
    dump: Callable[[Any], tuple[bytes, dict[str, Any]]]
    load: Callable[[bytes, dict[str, Any]], Any]


def _is_json(value: Any, depth: int = 0) -> bool:
    # exact types: a subclass (a defaultdict, an IntEnum, a NumPy float) would come back as
    # its base, so it is pickled instead
    kind = type(value)
    if depth > 50:
        return False
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_is_json(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _module_has(value: Any, module: str, names: tuple[str, ...]) -> bool:
    """Whether ``value`` is one of ``module``'s classes, without importing the module."""
    loaded = sys.modules.get(module)
    if loaded is None:
        return False
    return any(isinstance(value, getattr(loaded, n)) for n in names if hasattr(loaded, n))


def _json_dump(value: Any) -> tuple[bytes, dict[str, Any]]:
    # keys in their order (a dict's order is part of it: columns, ranked features)
    return json.dumps(value, separators=(",", ":")).encode(), {}


def _arrow_dump(value: Any) -> tuple[bytes, dict[str, Any]]:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(value, sink)
    return sink.getvalue(), {"rows": value.num_rows, "columns": value.num_columns}


def _arrow_load(data: bytes, meta: dict[str, Any]) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data))


def _frame_dump(value: Any) -> tuple[bytes, dict[str, Any]]:
    sink = io.BytesIO()
    value.to_parquet(sink)
    return sink.getvalue(), {"rows": int(value.shape[0]), "columns": int(value.shape[1])}


def _frame_load(data: bytes, meta: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


def _array_dump(value: Any) -> tuple[bytes, dict[str, Any]]:
    import numpy as np

    if value.dtype.hasobject:
        raise TypeError("an array of Python objects")
    sink = io.BytesIO()
    np.save(sink, value, allow_pickle=False)
    return sink.getvalue(), {"shape": list(value.shape), "dtype": str(value.dtype)}


def _array_load(data: bytes, meta: dict[str, Any]) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


def _version_dump(value: Any) -> tuple[bytes, dict[str, Any]]:
    ref = f"{value.name}@{value.version}"
    return ref.encode(), {"ref": ref}


def _dataset_load(data: bytes, meta: dict[str, Any]) -> Any:
    from shipyard import data as datasets

    return datasets.get(data.decode())


def _model_load(data: bytes, meta: dict[str, Any]) -> Any:
    from shipyard import models

    return models.get(data.decode())


def _pickle_dump(value: Any) -> tuple[bytes, dict[str, Any]]:
    import cloudpickle

    kind = type(value)
    return cloudpickle.dumps(value), {"type": f"{kind.__module__}.{kind.__qualname__}"}


def _pickle_load(data: bytes, meta: dict[str, Any]) -> Any:
    import pickle

    # Only bytes this store wrote (content-addressed and verified on read) are unpickled.
    return pickle.loads(data)


def _is_version(value: Any, module: str, name: str) -> bool:
    return _module_has(value, module, (name,))


#: The kinds, tried in order (the first that accepts a value writes it).
VALUE_KINDS: list[ValueKind] = [
    ValueKind("json", _is_json, _json_dump, lambda data, meta: json.loads(data)),
    ValueKind("arrow", lambda v: _module_has(v, "pyarrow", ("Table",)), _arrow_dump, _arrow_load),
    ValueKind(
        "dataframe",
        lambda v: _module_has(v, "pandas", ("DataFrame",)),
        _frame_dump,
        _frame_load,
    ),
    ValueKind("ndarray", lambda v: _module_has(v, "numpy", ("ndarray",)), _array_dump, _array_load),
    ValueKind(
        "dataset",
        lambda v: _is_version(v, "shipyard.data._types", "VersionInfo"),
        _version_dump,
        _dataset_load,
    ),
    ValueKind(
        "model",
        lambda v: _is_version(v, "shipyard.models._types", "ModelVersion"),
        _version_dump,
        _model_load,
    ),
    ValueKind("pickle", lambda v: True, _pickle_dump, _pickle_load),
]


def dump(value: Any, what: str) -> tuple[Stored, bytes]:
    """Store ``value``: its record and its bytes (the caller writes large bytes away).

    Raises:
        InvalidInput: no kind can write it (``what`` names it: "the output of step 'x'").
    """
    errors = []
    for kind in VALUE_KINDS:
        if not kind.accepts(value):
            continue
        try:
            data, meta = kind.dump(value)
        except Exception as exc:  # a kind that accepted but could not write: try the next
            errors.append(f"{kind.name}: {type(exc).__name__}: {exc}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        inline = data if len(data) <= INLINE_LIMIT else None
        return Stored(kind.name, digest, len(data), inline, meta), data
    kind_name = f"{type(value).__module__}.{type(value).__qualname__}"
    raise InvalidInput(
        f"Cannot store {what}: a {kind_name} is none of JSON, a DataFrame, an Arrow table, "
        f"a NumPy array, a dataset or model version, nor picklable "
        f"({'; '.join(errors)[:300]}). Return plain data instead."
    )


def load(stored: Stored, data: bytes) -> Any:
    """Read a stored value back from its bytes."""
    for kind in VALUE_KINDS:
        if kind.name == stored.kind:
            return kind.load(data, stored.meta)
    raise InvalidInput(f"Unknown kind of stored value {stored.kind!r}.")

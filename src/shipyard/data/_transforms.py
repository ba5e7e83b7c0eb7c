"""Named transforms (Python functions or SQL) whose outputs are cached dataset versions."""

from __future__ import annotations

import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from shipyard._refs import check_name
from shipyard.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Transform:
    """A transform: a Python function ``fn(*frames, **params)`` or a SQL statement that
    reads its inputs by dataset name (``SELECT ... FROM loans``) and params as ``$name``."""

    name: str
    kind: str  # "python" | "sql"
    code: str
    code_hash: str
    fn: Callable[..., Any] | None = None


_registry: dict[str, Transform] = {}


def register_transform(name: str, fn_or_sql: Callable[..., Any] | str) -> Transform:
    """Register (or replace) a named transform in this process.

    Its code is hashed, with the plain values (numbers, strings, tuples...) and the source of
    the functions it reads from globals and closures, so a changed function, constant or helper
    is a new transform version. State it reaches any other way (files, objects it mutates)
    is not seen: keep transforms pure.
    """
    check_name("Transform", name)
    if isinstance(fn_or_sql, str):
        if not fn_or_sql.strip():
            raise InvalidInput(f"Transform {name!r}: the SQL statement is empty.")
        code, kind, fn = fn_or_sql.strip(), "sql", None
    elif callable(fn_or_sql):
        try:
            code = textwrap.dedent(inspect.getsource(fn_or_sql))
        except (OSError, TypeError) as exc:
            raise InvalidInput(
                f"Transform {name!r}: the source of {fn_or_sql!r} cannot be read, so its "
                "output could not be cached safely. Define it in a file."
            ) from exc
        kind, fn = "python", fn_or_sql
    else:
        raise InvalidInput(
            f"Transform {name!r} must be a function or a SQL string, got "
            f"{type(fn_or_sql).__name__}."
        )
    if fn is not None:
        code = code + _free_values(fn)
    transform = Transform(name, kind, code, code_hash(kind, code), fn)
    _registry[name] = transform
    return transform


def code_hash(kind: str, code: str) -> str:
    """The identity of a transform's code: sha256 of its kind and text."""
    return hashlib.sha256(f"{kind}\n{code}".encode()).hexdigest()


def get_transform(name_or_transform: str | Transform) -> Transform:
    """A registered transform by name (or the transform itself)."""
    if isinstance(name_or_transform, Transform):
        return name_or_transform
    found = _registry.get(name_or_transform)
    if found is None:
        known = ", ".join(sorted(_registry)) or "none"
        raise NotFound(
            f"No transform named {name_or_transform!r} registered in this process (registered: "
            f"{known}). Call sy.datasets.register_transform(name, fn_or_sql) first."
        )
    return found


def input_key(
    transform: Transform,
    inputs: Sequence[tuple[str | None, str]],
    params: Mapping[str, Any],
    output: str,
) -> str:
    """Cache key: the code, which version goes to which argument, the params and the output.

    Raises:
        InvalidInput: a param that is not plain JSON (numbers, strings, lists, dicts), whose
            value could not be told apart from a similar one.
    """
    try:
        payload = json.dumps(
            [transform.code_hash, [list(i) for i in inputs], dict(params), output],
            sort_keys=True,
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Transform {transform.name!r}: params must be plain JSON values (numbers, strings, "
            f"lists, dicts) so the cache can tell them apart: {exc}"
        ) from exc
    return hashlib.sha256(payload.encode()).hexdigest()


def apply_python(
    transform: Transform,
    frames: Sequence[pd.DataFrame] | Mapping[str, pd.DataFrame],
    params: Mapping[str, Any],
) -> Any:
    """Call a Python transform; it must return a DataFrame or an Arrow table."""
    assert transform.fn is not None
    if isinstance(frames, Mapping):
        result = transform.fn(**frames, **params)
    else:
        result = transform.fn(*frames, **params)
    if not isinstance(result, (pd.DataFrame, pa.Table)):
        raise InvalidInput(
            f"Transform {transform.name!r} returned {type(result).__name__}; expected a pandas "
            "DataFrame or an Arrow table."
        )
    return result


def _free_values(fn: Callable[..., Any]) -> str:
    """Text standing for what ``fn`` reads outside its body: plain values and helper source."""
    try:
        free = inspect.getclosurevars(fn)
    except TypeError:
        return ""
    parts = []
    for scope, values in (("nonlocal", free.nonlocals), ("global", free.globals)):
        for key in sorted(values):
            value = values[key]
            if isinstance(value, (int, float, str, bool, bytes, tuple, frozenset, type(None))):
                parts.append(f"# {scope} {key} = {value!r}")
            elif inspect.isfunction(value):
                try:
                    parts.append(f"# {scope} {key}:\n{inspect.getsource(value)}")
                except (OSError, TypeError):
                    parts.append(f"# {scope} {key}: {value.__module__}.{value.__qualname__}")
    return "\n" + "\n".join(parts) if parts else ""

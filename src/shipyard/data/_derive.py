"""Versions made from versions: SQL queries and transforms, with lineage and caching."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from shipyard.data import _api, _sql
from shipyard.data._transforms import (
    Transform,
    apply_python,
    code_hash,
    get_transform,
    input_key,
)
from shipyard.errors import InvalidInput


def query(
    sql: str,
    *,
    register_as: str | None = None,
    description: str | None = None,
    params: Mapping[str, Any] | None = None,
    external_access: bool = False,
) -> pd.DataFrame | _api.DatasetVersion:
    """Run SQL over dataset versions named ``name@version`` (DuckDB dialect).

    Example: ``sy.datasets.query("SELECT region, avg(income) FROM loans@3 GROUP BY 1")``.
    Returns a DataFrame, or with ``register_as`` a new version whose lineage lists every
    version the query read and whose transform is the SQL itself. Inside a run, the run
    records the versions it read.

    The SQL reads only the versions it names: DuckDB's access to files, URLs and
    extensions is off (``read_csv('/etc/passwd')``, ``COPY ... TO``, ``ATTACH`` and
    ``INSTALL`` are refused with :class:`InvalidInput`). ``external_access=True`` turns it
    on for SQL you trust; the result's lineage then lists only the versions named.

    The SQL runs in this process: in remote mode (``SHIPYARD_URL``) the versions it names
    are downloaded once into the local cache (hash-verified) and read from there, so
    ``external_access`` reaches this machine's files, never the server's.
    """
    table, versions = select(sql, params=params, external_access=external_access)
    if register_as is None:
        return table.to_pandas()
    transform_id = _api._store().transform(
        f"query:{register_as}", "sql", sql.strip(), code_hash("sql", sql.strip())
    )
    return _api.register(
        register_as,
        table,
        description=description,
        parents=[v.id for v in versions],
        transform_id=transform_id,
        transform_params=dict(params or {}),
    )


def select(
    sql: str,
    *,
    params: Mapping[str, Any] | None = None,
    external_access: bool = False,
    limit: int | None = None,
    timeout: float | None = None,
    memory_limit: str | None = None,
) -> tuple[pa.Table, list[_api.DatasetVersion]]:
    """(result, versions read) of SQL over ``name@version`` references: :func:`query`'s
    work, and the platform server's query route's with its bounds (see ``_sql.run_sql``)."""
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInput("query takes a non-empty SQL string.")
    refs = _sql.find_refs(sql)
    versions = [_api.get(ref) for ref in refs]
    names = {ref: f"__sy_{n}" for n, ref in enumerate(refs)}
    views = {names[ref]: str(v.path()) for ref, v in zip(refs, versions, strict=True)}
    table = _sql.run_sql(
        _sql.rewrite(sql, names),
        views,
        dict(params or {}),
        external_access=external_access,
        limit=limit,
        timeout=timeout,
        memory_limit=memory_limit,
    )
    return table, versions


def run_transform(
    transform: str | Transform,
    inputs: Sequence[str] | Mapping[str, str],
    *,
    output: str,
    params: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> _api.DatasetVersion:
    """Run a registered transform on input versions and register its output as ``output``.

    ``inputs`` are references (``["loans@3"]``), or a mapping of argument names to
    references for a Python transform. Running the same code on the same input versions
    with the same params returns the cached output version without running anything.
    """
    t = get_transform(transform)
    params = dict(params or {})
    named = dict(inputs) if isinstance(inputs, Mapping) else None
    refs = list(named.values()) if named is not None else list(inputs)
    if not refs:
        raise InvalidInput(f"Transform {t.name!r} needs at least one input version.")
    versions = [_api.get(ref) for ref in refs]
    store = _api._store()
    transform_id = store.transform(t.name, t.kind, t.code, t.code_hash)
    arguments = list(named) if named is not None else [None] * len(versions)
    key = input_key(t, list(zip(arguments, [v.id for v in versions], strict=True)), params, output)
    cached = store.cached_output(transform_id, key)
    if cached is not None and cached.name == output:
        return _api._handle(cached)
    if t.kind == "python":
        if named is not None:
            frames: Any = {arg: v.to_pandas() for arg, v in zip(named, versions, strict=True)}
        else:
            frames = [v.to_pandas() for v in versions]
        result = apply_python(t, frames, params)
    else:
        views = {v.name: str(v.path()) for v in versions}
        if len(views) != len(versions):
            raise InvalidInput(
                f"SQL transform {t.name!r} reads inputs by dataset name, so two versions of "
                "one dataset cannot both be inputs."
            )
        result = _sql.run_sql(t.code, views, params)
    made = _api.register(
        output,
        result,
        description=description,
        parents=[v.id for v in versions],
        transform_id=transform_id,
        transform_params=params,
    )
    store.cache_output(transform_id, key, made.id)
    return made

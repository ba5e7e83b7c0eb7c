"""Searching and comparing runs: one SQL query for the page, three for its values."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select

from shipyard.errors import InvalidInput
from shipyard.tracking._filter import (
    ATTRIBUTES,
    compile_filter,
    parse_order_by,
)
from shipyard.tracking._store import EXPERIMENTS, LATEST, PARAMS, RUNS, TAGS, TrackingStore

DEFAULT_PAGE = 1000
_INFO_COLUMNS = [
    "run_id",
    "experiment",
    "name",
    "status",
    "start_time",
    "end_time",
    "duration",
    "parent_id",
]


def search(
    store: TrackingStore,
    experiments: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = DEFAULT_PAGE,
    page_token: str | None = None,
    columns: Sequence[str] | None = None,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """Runs matching ``filter``, one page, as a DataFrame (``df.attrs['next_page_token']``)."""
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise InvalidInput(f"max_results must be a positive integer, got {max_results!r}.")
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    names = [experiments] if isinstance(experiments, str) else list(experiments or [])
    fingerprint = hashlib.sha256(
        json.dumps([names, filter, orders, include_deleted]).encode()
    ).hexdigest()[:16]
    offset = _read_token(page_token, fingerprint)

    store.reap()
    query = select(RUNS.c.id)
    if names:
        ids = [store.get_experiment(name).id for name in names]
        query = query.where(RUNS.c.experiment_id.in_(ids))
    if not include_deleted:
        query = query.where(RUNS.c.deleted_at.is_(None))
    if filter is not None and filter.strip():
        query = query.where(compile_filter(filter))
    for n, clause in enumerate(orders):
        field, descending = parse_order_by(clause)
        if field.kind == "attributes":
            column: Any = ATTRIBUTES[field.key]
        else:
            table = {"metrics": LATEST, "params": PARAMS, "tags": TAGS}[field.kind].alias(f"o{n}")
            query = query.outerjoin(
                table, (table.c.run_id == RUNS.c.id) & (table.c.key == field.key)
            )
            column = table.c.value
        query = query.order_by((column.desc() if descending else column.asc()).nulls_last())
    query = query.order_by(RUNS.c.start_time.desc(), RUNS.c.id).offset(offset)
    query = query.limit(max_results + 1)

    with store.db.read() as conn:
        run_ids = list(conn.scalars(query))
        more = len(run_ids) > max_results
        run_ids = run_ids[:max_results]
        frame = _frame(conn, run_ids, columns)
    frame.attrs["next_page_token"] = (
        _make_token(offset + max_results, fingerprint) if more else None
    )
    return frame


def _frame(conn: Any, run_ids: list[str], columns: Sequence[str] | None) -> pd.DataFrame:
    wanted: dict[str, list[str] | None] = {"metrics": None, "params": None, "tags": None}
    if columns is not None:
        wanted = {"metrics": [], "params": [], "tags": []}
        for column in columns:
            prefix, _, key = column.partition(".")
            if prefix not in wanted or not key:
                raise InvalidInput(
                    f"Column {column!r} is not of the form metrics.<key>, params.<key> or "
                    "tags.<key>."
                )
            keys = wanted[prefix]
            assert keys is not None
            keys.append(key)
    if not run_ids:
        return pd.DataFrame(columns=_INFO_COLUMNS + list(columns or []))
    rows = conn.execute(
        select(
            RUNS.c.id,
            EXPERIMENTS.c.name.label("experiment"),
            RUNS.c.name,
            RUNS.c.status,
            RUNS.c.start_time,
            RUNS.c.end_time,
            RUNS.c.parent_id,
        )
        .join(EXPERIMENTS, EXPERIMENTS.c.id == RUNS.c.experiment_id)
        .where(RUNS.c.id.in_(run_ids))
    ).all()
    records: dict[str, dict[str, Any]] = {
        r.id: {
            "run_id": r.id,
            "experiment": r.experiment,
            "name": r.name,
            "status": r.status,
            "start_time": r.start_time,
            "end_time": r.end_time,
            "duration": None if r.end_time is None else r.end_time - r.start_time,
            "parent_id": r.parent_id,
        }
        for r in rows
    }
    for prefix, table in (("metrics", LATEST), ("params", PARAMS), ("tags", TAGS)):
        keys = wanted[prefix]
        if keys == []:
            continue
        query = select(table.c.run_id, table.c.key, table.c.value).where(
            table.c.run_id.in_(run_ids)
        )
        if keys is not None:
            query = query.where(table.c.key.in_(keys))
        for run_id, key, value in conn.execute(query):
            records[run_id][f"{prefix}.{key}"] = value
    frame = pd.DataFrame.from_records([records[i] for i in run_ids if i in records])
    if columns is None:
        extra = sorted(c for c in frame.columns if c not in _INFO_COLUMNS)
    else:  # exactly the columns asked for, empty where no run on the page has a value
        extra = list(dict.fromkeys(columns))
    frame = frame.reindex(columns=_INFO_COLUMNS + extra)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame


def compare(store: TrackingStore, run_ids: Sequence[str]) -> pd.DataFrame:
    """One column per run, one row per attribute, param, metric and tag; ``differs`` flags rows
    whose values are not all equal."""
    if len(run_ids) < 2:
        raise InvalidInput(f"Compare needs at least two runs, got {len(run_ids)}.")
    runs = [store.get_run(run_id) for run_id in run_ids]
    table: dict[str, dict[str, Any]] = {}
    for run in runs:
        label = f"{run.info.name} ({run.info.id[:8]})"
        column: dict[str, Any] = {
            "experiment": run.experiment,
            "status": run.info.status,
            "duration": run.info.duration,
        }
        column.update({f"params.{k}": v for k, v in run.params.items()})
        column.update({f"metrics.{k}": m.value for k, m in run.metrics.items()})
        column.update({f"tags.{k}": v for k, v in run.tags.items()})
        table[label] = column
    frame = pd.DataFrame(table)
    order = [
        "experiment",
        "status",
        "duration",
        *sorted(i for i in frame.index if i not in ("experiment", "status", "duration")),
    ]
    frame = frame.loc[order]
    frame["differs"] = frame.astype(str).nunique(axis=1, dropna=False) > 1  # missing differs
    return frame


def _make_token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "q": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(token: str | None, fingerprint: str) -> int:
    if token is None:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        offset, query = int(data["o"]), data["q"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"page_token {token!r} is not a token returned by a search.") from exc
    if query != fingerprint:
        raise InvalidInput(
            "page_token belongs to a different search (experiments, filter or order changed)."
        )
    return offset

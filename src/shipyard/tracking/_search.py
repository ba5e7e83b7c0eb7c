"""Searching and comparing runs: one SQL query for the page, three for its values; the
page as a DataFrame."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select

from shipyard.errors import InvalidInput
from shipyard.tracking._filter import (
    ATTRIBUTES,
    analyze_filter,
    numeric_text,
    parse_order_by,
)
from shipyard.tracking._tables import EXPERIMENTS, LATEST, PARAMS, RUNS, TAGS
from shipyard.tracking._types import RunsPage

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.store import Database
    from shipyard.tracking._backend import TrackingBackend

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


def check_max_results(max_results: Any) -> int:
    """``max_results`` if it is a positive integer, else InvalidInput naming it."""
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise InvalidInput(f"max_results must be a positive integer, got {max_results!r}.")
    return max_results


def search(
    store: TrackingBackend,
    db: Database,
    names: Sequence[str] = (),
    filter: str | None = None,
    orders: Sequence[str] = (),
    max_results: int = DEFAULT_PAGE,
    page_token: str | None = None,
    columns: Sequence[str] | None = None,
    include_deleted: bool = False,
) -> RunsPage:
    """Runs matching ``filter``, one page of records, from ``store``'s database ``db``
    (``TrackingStore.search_runs``)."""
    check_max_results(max_results)
    names, orders = list(names), list(orders)
    fingerprint = hashlib.sha256(
        json.dumps([names, filter, orders, include_deleted]).encode()
    ).hexdigest()[:16]
    token = _read_token(page_token, fingerprint)
    wanted = _wanted(columns)

    store.reap()
    condition: Any = None
    required: set[tuple[str, str]] = set()
    if filter is not None and filter.strip():
        condition, required = analyze_filter(filter)
    order, joins, nullable = _ordering(orders, required)
    order += [(RUNS.c.start_time, True), (RUNS.c.id, False)]

    query = select(RUNS.c.id, *[c.label(f"k{i}") for i, (c, _) in enumerate(order)])
    for table, on, inner in joins:
        query = query.join(table, on) if inner else query.outerjoin(table, on)
    if names:
        ids = [store.get_experiment(name).id for name in names]
        query = query.where(
            RUNS.c.experiment_id == ids[0] if len(ids) == 1 else RUNS.c.experiment_id.in_(ids)
        )
    if not include_deleted:
        query = query.where(RUNS.c.deleted_at.is_(None))
    if condition is not None:
        query = query.where(condition)
    for column, descending in order:
        term = column.desc() if descending else column.asc()
        query = query.order_by(term.nulls_last() if nullable else term)
    offset = int(token.get("o", 0))
    if "k" in token and not nullable:
        query = query.where(_after(order, token["k"]))  # keyset: seek, never skip rows
        offset = 0
    query = query.offset(offset).limit(max_results + 1)

    with db.read() as conn:
        rows = conn.execute(query).all()
        more = len(rows) > max_results
        rows = rows[:max_results]
        records = _records(conn, [r[0] for r in rows], wanted)
    next_token = None
    if more:
        next_token = {"q": fingerprint, "o": offset + max_results}
        if not nullable:
            next_token["k"] = list(rows[-1][1:])
    return RunsPage(records, _make_token(next_token) if next_token else None)


def search_frame(
    store: TrackingBackend,
    experiments: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = DEFAULT_PAGE,
    page_token: str | None = None,
    columns: Sequence[str] | None = None,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """One page of ``store.search_runs`` as a DataFrame (``df.attrs['next_page_token']``)."""
    check_max_results(max_results)
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    names = [experiments] if isinstance(experiments, str) else list(experiments or [])
    found = store.search_runs(
        names, filter, orders, max_results, page_token, columns, include_deleted
    )
    frame = to_frame(found.rows, columns)
    frame.attrs["next_page_token"] = found.next_page_token
    return frame


def _ordering(
    orders: Sequence[str], required: set[tuple[str, str]]
) -> tuple[list[tuple[Any, bool]], list[tuple[Any, Any, bool]], bool]:
    """The ``order_by`` clauses as (column, descending) pairs, the joins they need
    (table, on, inner) and whether any sort key can be NULL (then pages use offsets)."""
    order: list[tuple[Any, bool]] = []  # (column, descending)
    nullable = False
    joins: list[tuple[Any, Any, bool]] = []
    for n, clause in enumerate(orders):
        field, descending = parse_order_by(clause)
        if field.kind == "attributes":
            column: Any = ATTRIBUTES[field.key]
            nullable = nullable or bool(column.nullable)
        else:
            table = {"metrics": LATEST, "params": PARAMS, "tags": TAGS}[field.kind].alias(f"o{n}")
            on = (table.c.run_id == RUNS.c.id) & (table.c.key == field.key)
            # When the filter demands the field, an inner join lets the database walk the
            # (key, value) index in order instead of sorting every run.
            inner = (field.kind, field.key) in required
            joins.append((table, on, inner))
            nullable = nullable or not inner
            column = table.c.value
            if field.kind != "metrics":
                # Params and tags: numbers first in numeric order (as filters compare them),
                # then the rest as text. The numeric key can be NULL: pages use offsets.
                number = numeric_text(column)
                order.append((number.is_(None), False))
                order.append((number, descending))
                nullable = True
        order.append((column, descending))
    return order, joins, nullable


def _after(order: list[tuple[Any, bool]], last: list[Any]) -> Any:
    """Rows after ``last`` in ``order``: a lexicographic comparison, led by a range on the
    first column so the database can seek in its index."""
    if len(last) != len(order) or not all(map(_fits, [c for c, _ in order], last)):
        raise InvalidInput("page_token does not match this search's order.")
    terms = []
    for i, (column, descending) in enumerate(order):
        equal = [order[j][0] == last[j] for j in range(i)]
        beyond = column < last[i] if descending else column > last[i]
        terms.append(and_(*equal, beyond))
    first, descending = order[0]
    lead = first <= last[0] if descending else first >= last[0]
    return and_(lead, or_(*terms))


def _fits(column: Any, value: Any) -> bool:
    """Whether a token's sort value is of its column's kind (text or number): a database
    compares them only then (PostgreSQL refuses ``text > 1.5``)."""
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return True
    return isinstance(value, str) == (kind is str)


def _wanted(columns: Sequence[str] | None) -> dict[str, list[str] | None]:
    """The keys of each kind ``columns`` asks for (None: all of them)."""
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
    return wanted


def _records(
    conn: Any, run_ids: list[str], wanted: dict[str, list[str] | None]
) -> list[dict[str, Any]]:
    if not run_ids:
        return []
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
        for run_id, key, value in conn.execute(query).all():
            records[run_id][f"{prefix}.{key}"] = value
    return [records[i] for i in run_ids if i in records]


def to_frame(records: list[dict[str, Any]], columns: Sequence[str] | None) -> pd.DataFrame:
    """A page's records as the DataFrame ``search_runs`` returns."""
    import pandas as pd  # here, not at the top: listing experiments needs no pandas

    if not records:
        return pd.DataFrame(columns=_INFO_COLUMNS + list(columns or []))
    frame = pd.DataFrame.from_records(records)
    if columns is None:
        extra = sorted(c for c in frame.columns if c not in _INFO_COLUMNS)
    else:  # exactly the columns asked for, empty where no run on the page has a value
        extra = list(dict.fromkeys(columns))
    frame = frame.reindex(columns=_INFO_COLUMNS + extra)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame


def compare(store: TrackingBackend, run_ids: Sequence[str]) -> pd.DataFrame:
    """One column per run, one row per attribute, param, metric and tag; ``differs`` flags rows
    whose values are not all equal."""
    import pandas as pd

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


def _make_token(state: dict[str, Any]) -> str:
    raw = json.dumps(state).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_MAX_OFFSET = 1 << 53  # far past any search's length, inside the databases' 64-bit OFFSET


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity: never in a token of ours


def _is_sort_value(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return -(1 << 63) <= value < 1 << 63
    return isinstance(value, float) and math.isfinite(value)


def _read_token(token: str | None, fingerprint: str) -> dict[str, Any]:
    """The state a page token carries: the query fingerprint, an offset, and (for keyset
    paging) the sort values of the last row returned."""
    if token is None:
        return {}
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded), parse_constant=_no_constant)
        query = data["q"]
        # what this module wrote: an offset a database takes, and the last row's sort
        # values (numbers and text, never null: keyset paging only sorts non-null keys)
        if type(data["o"]) is not int or not 0 <= data["o"] <= _MAX_OFFSET:
            raise ValueError("o")
        if "k" in data and not (
            isinstance(data["k"], list) and all(map(_is_sort_value, data["k"]))
        ):
            raise TypeError("k")
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"page_token {token!r} is not a token returned by a search.") from exc
    if query != fingerprint:
        raise InvalidInput(
            "page_token belongs to a different search (experiments, filter or order changed)."
        )
    return dict(data)

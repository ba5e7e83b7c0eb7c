"""What the datasets API shows beyond stored records: a version's details, the lineage
graph as nodes and edges, a diff as JSON, a SQL answer."""

from __future__ import annotations

import math
import threading
from typing import Any

from shipyard import data, models
from shipyard.data._api import _store
from shipyard.data._preview import jsonable, table_rows
from shipyard.data._wire import version_json
from shipyard.errors import InvalidInput, Unavailable

__all__ = ["detail", "diff_json", "lineage_graph", "query_json"]

#: A shared server bounds what SQL may use, besides its rows and time.
QUERY_MEMORY = "1GB"
#: ... and how big its answer may be (bytes of the result's columns, before JSON)
QUERY_ANSWER = 64 << 20
#: ... and how many statements run at once (each may take QUERY_MEMORY and every core)
QUERY_SLOTS = 2
QUERY_WAIT = 1.0  # seconds a statement waits for a slot before it is refused (503)
_slots = threading.BoundedSemaphore(QUERY_SLOTS)


def detail(v: data.DatasetVersion) -> dict[str, Any]:
    """A version with the schema it was validated against and its check warning."""
    found = _store().schema(v.dataset_id, v.schema_version) if v.schema_version else None
    return {
        **version_json(v),
        "schema": found[1] if found is not None else None,
        "warning": v.check_warning(),
    }


def diff_json(a: str, b: str) -> dict[str, Any]:
    """:func:`shipyard.data.diff` of two references as JSON."""
    found = data.diff(a, b)
    stats = [
        {k: _number(v) for k, v in row.items()}
        for row in found.stats.astype(object).to_dict("records")
    ]
    return {
        "a": found.a,
        "b": found.b,
        "rows": list(found.rows),
        "same_content": found.same_content,
        "schema_changes": found.schema_changes,
        "stats": stats,
    }


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return jsonable(value.item() if hasattr(value, "item") else value)


def lineage_graph(ref: str, depth: int) -> dict[str, Any]:
    """The lineage around a version as a graph: dataset versions (ids are their
    references), the runs that read them or registered the focus (``run:ID``) and the
    model versions trained on them (``model:REF``)."""
    found = data.lineage(ref, depth)
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []

    def dataset(ref_: str) -> None:
        name, _, number = ref_.partition("@")
        nodes.setdefault(
            ref_,
            {
                "id": ref_,
                "kind": "dataset",
                "label": ref_,
                "detail": {"name": name, "version": int(number)},
            },
        )

    dataset(found.focus)
    for edge in (*found.upstream, *found.downstream):
        dataset(edge.parent)
        dataset(edge.child)
        link = {
            "source": edge.parent,
            "target": edge.child,
            "kind": "derived",
            "label": edge.transform,
        }
        if link not in edges:
            edges.append(link)
    for version, readers in found.readers.items():
        for run in readers:
            node = f"run:{run['id']}"
            nodes.setdefault(
                node,
                {
                    "id": node,
                    "kind": "run",
                    "label": run.get("name") or run["id"],
                    "detail": dict(run),
                },
            )
            edges.append({"source": version, "target": node, "kind": "read", "label": None})
    if found.produced_by:
        node = f"run:{found.produced_by}"
        nodes.setdefault(
            node,
            {
                "id": node,
                "kind": "run",
                "label": found.produced_by,
                "detail": {"id": found.produced_by},
            },
        )
        edges.append({"source": node, "target": found.focus, "kind": "registered", "label": None})
    for version in [n for n, v in nodes.items() if v["kind"] == "dataset"]:
        for model in models.trained_on(version):
            node = f"model:{model.ref}"
            nodes.setdefault(
                node,
                {
                    "id": node,
                    "kind": "model",
                    "label": model.ref,
                    "detail": {
                        "flavor": model.flavor,
                        "stage": model.stage,
                        "aliases": list(model.aliases),
                    },
                },
            )
            edges.append({"source": version, "target": node, "kind": "trained", "label": None})
    return {"focus": found.focus, "nodes": list(nodes.values()), "edges": edges}


def query_json(
    sql: str, params: dict[str, Any] | None, max_rows: int, timeout: float
) -> dict[str, Any]:
    """SQL over the versions it names, bounded: ``max_rows`` rows, ``timeout`` seconds,
    :data:`QUERY_MEMORY`; never files, URLs or extensions (external access off)."""
    from shipyard.data._derive import select

    if not _slots.acquire(timeout=QUERY_WAIT):  # the memory bound is per statement
        raise Unavailable(
            f"sql: the server runs at most {QUERY_SLOTS} statements at once and is busy; "
            "try again shortly.",
            retry_after=1,
        )
    try:
        table, read = select(
            sql, params=params, limit=max_rows + 1, timeout=timeout, memory_limit=QUERY_MEMORY
        )
    finally:
        _slots.release()
    truncated = table.num_rows > max_rows
    table = table.slice(0, max_rows)
    if table.nbytes > QUERY_ANSWER:
        raise InvalidInput(
            f"sql: its answer is {table.nbytes:,} bytes, more than the {QUERY_ANSWER:,} the "
            "server sends; select fewer or narrower columns, or fewer rows (max_rows)."
        )
    return {
        "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
        "rows": table_rows(table),
        "truncated": truncated,
        "read": [v.ref for v in read],
    }

"""Where a version came from and where it went; what changed between two versions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from shipyard.data import _api
from shipyard.data._profile_types import type_name


@dataclass(frozen=True)
class Edge:
    """``child`` was made from ``parent`` (by ``transform``, when known)."""

    parent: str
    child: str
    transform: str | None = None


@dataclass(frozen=True)
class Lineage:
    """The graph around one version: dataset versions upstream and downstream, the runs that
    read any of them, and the run that registered the focus version."""

    focus: str
    upstream: list[Edge] = field(default_factory=list)
    downstream: list[Edge] = field(default_factory=list)
    readers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    produced_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (CLI ``--json``, REST API)."""
        return {
            "focus": self.focus,
            "upstream": [e.__dict__ for e in self.upstream],
            "downstream": [e.__dict__ for e in self.downstream],
            "readers": self.readers,
            "produced_by": self.produced_by,
        }


def lineage(ref: str, depth: int = 20) -> Lineage:
    """Walk the lineage of a version ``depth`` steps both ways."""
    store = _api._store()
    focus = _api.resolve(ref)
    refs: dict[str, str] = {focus.id: focus.ref}

    def ref_of(version_id: str) -> tuple[str, str | None]:
        info = store.get(version_id)
        refs[version_id] = info.ref
        name = store.transform_code(info.transform_id)["name"] if info.transform_id else None
        return info.ref, name

    upstream: list[Edge] = []
    frontier, seen = [focus.id], {focus.id}
    for _ in range(depth):
        nxt = []
        for vid in frontier:
            child_ref, transform = ref_of(vid)
            for parent in store.get(vid).parents:
                parent_ref, _ = ref_of(parent)
                upstream.append(Edge(parent_ref, child_ref, transform))
                if parent not in seen:  # a diamond is walked once
                    seen.add(parent)
                    nxt.append(parent)
        frontier = nxt
        if not frontier:
            break
    downstream: list[Edge] = []
    frontier, seen = [focus.id], {focus.id}
    for _ in range(depth):
        nxt = []
        for vid in frontier:
            for child in store.children(vid):
                child_ref, transform = ref_of(child)
                downstream.append(Edge(refs[vid], child_ref, transform))
                if child not in seen:
                    seen.add(child)
                    nxt.append(child)
        frontier = nxt
        if not frontier:
            break
    readers = {refs[vid]: found for vid in refs if (found := store.readers(vid))}
    return Lineage(focus.ref, upstream, downstream, readers, focus.run_id)


@dataclass(frozen=True)
class DatasetDiff:
    """What changed from version ``a`` to version ``b``."""

    a: str
    b: str
    rows: tuple[int, int]
    schema_changes: list[str]
    stats: pd.DataFrame  # column, stat, a, b, change; only the statistics that moved

    hashes: tuple[str, str] = ("", "")

    @property
    def same_content(self) -> bool:
        """Whether both refer to identical data (their content hashes are equal)."""
        return self.hashes[0] == self.hashes[1]


#: A statistic "moved" when it changed by more than this share of its scale.
MOVED = 0.05


def diff(a_ref: str, b_ref: str) -> DatasetDiff:
    """Compare two versions from their stored profiles (no data is loaded)."""
    a, b = _api.resolve(a_ref), _api.resolve(b_ref)
    pa_, pb = a.profile(), b.profile()
    cols_a = {c.name: c for c in pa_.columns}
    cols_b = {c.name: c for c in pb.columns}
    changes = [f"column {n!r} added ({cols_b[n].type_name})" for n in cols_b if n not in cols_a]
    changes += [
        f"column {n!r} removed (was {cols_a[n].type_name})" for n in cols_a if n not in cols_b
    ]
    changes += [
        f"column {n!r} type {_types(cols_a[n].type, cols_b[n].type)}"
        for n in cols_a
        if n in cols_b and cols_a[n].type != cols_b[n].type
    ]
    rows: list[dict[str, Any]] = []
    for name in (n for n in cols_a if n in cols_b):
        ca, cb = cols_a[name], cols_b[name]
        miss_a = ca.missing / ca.count if ca.count else 0.0
        miss_b = cb.missing / cb.count if cb.count else 0.0
        if abs(miss_b - miss_a) > 0.01:
            rows.append(_row(name, "missing_rate", miss_a, miss_b))
        identifier = ca.distinct == ca.count and cb.distinct == cb.count and not ca.missing
        if ca.kind == "numeric" and cb.kind == "numeric" and not identifier:
            scale = ca.std if ca.std else abs(ca.mean or 0.0) or 1.0
            for stat in ("mean", "std", "min", "max"):
                va, vb = getattr(ca, stat), getattr(cb, stat)
                if _number(va) and _number(vb) and abs(vb - va) > MOVED * scale:
                    rows.append(_row(name, stat, va, vb))
        if ca.top and cb.top:
            share_a = {k: v / max(ca.count - ca.missing, 1) for k, v in ca.top}
            share_b = {k: v / max(cb.count - cb.missing, 1) for k, v in cb.top}
            for value in sorted(set(share_a) | set(share_b)):
                sa, sb = share_a.get(value, 0.0), share_b.get(value, 0.0)
                if abs(sb - sa) > MOVED:
                    rows.append(_row(name, f"share[{value}]", sa, sb))
        if ca.distinct != cb.distinct and ca.kind != "numeric":
            rows.append(_row(name, "distinct", ca.distinct, cb.distinct))
    stats = pd.DataFrame(rows, columns=["column", "stat", "a", "b", "change"])
    return DatasetDiff(
        a.ref, b.ref, (a.rows, b.rows), changes, stats, (a.content_hash, b.content_hash)
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _types(a: str, b: str) -> str:
    """``category -> string``; the Arrow types where the plain names are alike."""
    plain = type_name(a), type_name(b)
    return f"{a} -> {b}" if plain[0] == plain[1] else f"{plain[0]} -> {plain[1]}"


def _row(column: str, stat: str, a: Any, b: Any) -> dict[str, Any]:
    change = b - a if _number(a) and _number(b) else None
    return {"column": column, "stat": stat, "a": a, "b": b, "change": change}

"""What the catalog pages (datasets and models) share: how values are shown, the page a
missing name answers with, and lineage graphs drawn as inline SVG (links work without JS).

A lineage graph is columns of nodes (dataset versions, runs, model versions) with arrows
between them, laid out left to right in the order the columns are given.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from shipyard.errors import ShipyardError
from shipyard.server._ui import render

__all__ = ["Node", "fmt", "human_size", "lineage_svg", "problem_page", "rows_of"]


def fmt(value: Any, digits: int = 4) -> str:
    """A value as a table shows it: thousands separators, ``digits`` significant digits,
    a dash for nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if 1e3 <= abs(value) < 1e15:
            return f"{value:,.0f}"
        return f"{value:,.{digits}g}"
    text = str(value)
    if len(text) == 19 and text[10] == "T" and text[4] == "-":  # an ISO time: 2025-01-31T00:00:00
        return text.removesuffix("T00:00:00").replace("T", " ")
    return text


def human_size(size: int | None) -> str:
    """Bytes as ``12.3 kB``."""
    if size is None:
        return "–"
    amount = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} GB"  # pragma: no cover - the loop returns


def rows_of(table: Any) -> tuple[list[str], list[list[str]]]:
    """(column names, rows of shown cells) of an Arrow table."""
    names = list(table.column_names)
    columns = [table.column(n).to_pylist() for n in names]
    return names, [[_cell(col[i]) for col in columns] for i in range(table.num_rows)]


def _cell(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat()).replace("T", " ").removesuffix(" 00:00:00")
    return fmt(value, 6)


def problem_page(request: Request, error: ShipyardError, back: tuple[str, str]) -> HTMLResponse:
    """The page a missing or invalid name answers with, with the SDK's one-line message and
    the status of its kind; ``back``: (path, label) of where to go instead."""
    page = render(request, "catalog_error.html", message=str(error), back=back)
    page.status_code = error.http_status if 400 <= error.http_status < 500 else 500
    return page


@dataclass(frozen=True)
class Node:
    """One box of a lineage graph: ``kind`` is ``dataset``, ``run`` or ``model``."""

    key: str
    label: str
    kind: str
    href: str | None = None
    note: str = ""
    focus: bool = False


_COL_W, _BOX_W, _BOX_H, _GAP, _TOP = 250, 200, 46, 16, 30
_MAX_LABEL = 26


def lineage_svg(
    columns: Sequence[tuple[str, Sequence[Node]]], edges: Sequence[tuple[str, str]]
) -> Markup:
    """A left-to-right graph: ``columns`` are (heading, nodes); ``edges`` (from key, to key)
    become arrows. Columns without nodes are left out. Every text is escaped."""
    shown = [(title, list(nodes)) for title, nodes in columns if nodes]
    tallest = max((len(nodes) for _, nodes in shown), default=1)
    height = _TOP + tallest * (_BOX_H + _GAP) + 4
    width = max(len(shown), 1) * _COL_W - (_COL_W - _BOX_W) + 8
    where: dict[str, tuple[float, float]] = {}
    parts: list[str] = []
    for i, (title, nodes) in enumerate(shown):
        x = 4 + i * _COL_W
        parts.append(f'<text class="head" x="{x}" y="16">{_e(title)}</text>')
        offset = (tallest - len(nodes)) * (_BOX_H + _GAP) / 2
        for j, node in enumerate(nodes):
            y = _TOP + offset + j * (_BOX_H + _GAP)
            where[node.key] = (x, y)
            parts.append(_box(node, x, y))
    arrows = [_arrow(where[a], where[b]) for a, b in edges if a in where and b in where and a != b]
    return Markup(
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height:.0f}" viewBox="0 0 {width} {height:.0f}" role="img" '
        'aria-label="Lineage graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" '
        'refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" class="tip"/></marker></defs>'
        + "".join(arrows)
        + "".join(parts)
        + "</svg>"
    )


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _box(node: Node, x: float, y: float) -> str:
    label = node.label
    short = label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"
    focus = " focus" if node.focus else ""
    inner = (
        f'<rect x="{x}" y="{y:.1f}" width="{_BOX_W}" height="{_BOX_H}" rx="7"/>'
        f'<text class="label" x="{x + 12}" y="{y + 19:.1f}">{_e(short)}</text>'
        f'<text class="note" x="{x + 12}" y="{y + 36:.1f}">{_e(node.kind)}'
        f"{' · ' + _e(node.note) if node.note else ''}</text>"
        f"<title>{_e(label)}</title>"
    )
    if node.href:
        return f'<a class="node {_e(node.kind)}{focus}" href="{_e(node.href)}">{inner}</a>'
    return f'<g class="node {_e(node.kind)}{focus}">{inner}</g>'


def _arrow(start: tuple[float, float], end: tuple[float, float]) -> str:
    x1, y1 = start[0] + _BOX_W, start[1] + _BOX_H / 2
    x2, y2 = end[0] - 2, end[1] + _BOX_H / 2
    bend = (x2 - x1) / 2
    return (
        f'<path class="edge" d="M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f} '
        f'{x2 - bend:.1f} {y2:.1f} {x2:.1f} {y2:.1f}" marker-end="url(#arrow)"/>'
    )

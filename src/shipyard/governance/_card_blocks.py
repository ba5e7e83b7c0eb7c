"""The pieces a model card is made of (headings, paragraphs, facts, tables, bar charts) and
how its numbers and times are written; ``_card_text`` arranges them, and renders them as
Markdown, ``_card_html`` as HTML."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["Bars", "Block", "Facts", "Heading", "Para", "Table", "interval", "num", "when"]


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Para:
    """Text; ``user``: written by a person (kept as written, paragraphs on blank lines)."""

    text: str
    user: bool = False
    muted: bool = False


@dataclass(frozen=True)
class Facts:
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    status: tuple[str, ...] = ()  # per row: "ok", "bad", "warn" or ""


@dataclass(frozen=True)
class Bars:
    """A horizontal bar per label; ``ranges``: (low, high) per bar, or None."""

    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    ranges: tuple[tuple[float, float] | None, ...] = field(default_factory=tuple)


Block = Heading | Para | Facts | Table | Bars


def num(value: Any) -> str:
    """A number with four significant digits (integers whole), ``–`` for nothing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def when(epoch: float | None) -> str:
    if epoch is None:
        return "–"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def interval(low: Any, high: Any) -> str:
    return "–" if low is None or high is None else f"[{num(low)}, {num(high)}]"

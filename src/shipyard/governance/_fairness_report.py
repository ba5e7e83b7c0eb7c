"""The fairness report: group metrics with intervals, disparities, notes and chart figures.

It is what ``fairness`` returns and what it records as ``fairness`` evidence (``to_dict``);
``from_dict`` reads a record back. The figures are plain plotly figure dicts (no plotly
import): the UI and the model card draw them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["FairnessGroup", "FairnessReport", "MetricValue", "clean_float"]

LABELS = {
    "selection_rate": "Selection rate",
    "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate",
    "accuracy": "Accuracy",
    "error": "Error",
}


def clean_float(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing or not finite (JSON has no NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class MetricValue:
    """One metric of one group: the value and its bootstrap confidence interval (None when
    no interval was computed or the metric is undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class FairnessGroup:
    """One group: its sensitive values (``{"gender": "female"}``), row count, whether it is
    under the report's ``min_group_size`` (reported, never hidden), and its metrics."""

    group: dict[str, Any]
    count: int
    small: bool
    metrics: dict[str, MetricValue]

    @property
    def label(self) -> str:
        """``female`` for one attribute, ``female / north`` for several."""
        return " / ".join(str(v) for v in self.group.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": dict(self.group),
            "count": self.count,
            "small": self.small,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }


@dataclass(frozen=True)
class FairnessReport:
    """Group metrics and disparities of a model version on a dataset (see ``fairness``).

    Attributes:
        model: the version (``churn@7``).
        data: the dataset version (``loans@3``), or None for an in-memory frame.
        task: ``binary``, ``multiclass`` or ``regression``.
        groups: one per group present in the data, small ones included.
        overall: each metric on all rows.
        disparities: ``demographic_parity_difference``, ``demographic_parity_ratio`` and
            ``equalized_odds_difference`` (binary); ``error_difference`` and ``error_ratio``
            (multiclass and regression). None where undefined.
        notes: what the numbers need said beside them (small groups, undefined rates...).
    """

    model: str
    data: str | None
    target: str
    sensitive: tuple[str, ...]
    rows: int
    task: str
    confidence: float
    min_group_size: int
    boot: int
    groups: tuple[FairnessGroup, ...]
    overall: dict[str, float | None]
    disparities: dict[str, float | None]
    notes: tuple[str, ...] = ()
    positive_label: Any = field(default=None)

    @property
    def metrics(self) -> list[str]:
        """The metric names, in report order."""
        return list(self.groups[0].metrics) if self.groups else list(self.overall)

    def to_dict(self) -> dict[str, Any]:
        """The ``fairness`` evidence record (JSON values only)."""
        return {
            "model": self.model,
            "data": self.data,
            "target": self.target,
            "sensitive": list(self.sensitive),
            "rows": self.rows,
            "task": self.task,
            "confidence": self.confidence,
            "min_group_size": self.min_group_size,
            "boot": self.boot,
            "positive_label": self.positive_label,
            "groups": [g.to_dict() for g in self.groups],
            "overall": dict(self.overall),
            "disparities": dict(self.disparities),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FairnessReport:
        """Read back a record written by :meth:`to_dict`."""
        groups = tuple(
            FairnessGroup(
                dict(g["group"]),
                int(g["count"]),
                bool(g["small"]),
                {k: MetricValue(m["value"], m["low"], m["high"]) for k, m in g["metrics"].items()},
            )
            for g in data.get("groups", [])
        )
        return cls(
            model=str(data.get("model", "")),
            data=data.get("data"),
            target=str(data.get("target", "")),
            sensitive=tuple(data.get("sensitive", ())),
            rows=int(data.get("rows", 0)),
            task=str(data.get("task", "binary")),
            confidence=float(data.get("confidence", 0.95)),
            min_group_size=int(data.get("min_group_size", 0)),
            boot=int(data.get("boot", 0)),
            groups=groups,
            overall=dict(data.get("overall", {})),
            disparities=dict(data.get("disparities", {})),
            notes=tuple(data.get("notes", ())),
            positive_label=data.get("positive_label"),
        )

    def frame(self) -> pd.DataFrame:
        """One row per group: the sensitive values, ``count``, ``small``, then each metric
        with ``_low`` and ``_high`` columns."""
        rows = []
        for g in self.groups:
            row: dict[str, Any] = {**g.group, "count": g.count, "small": g.small}
            for name, m in g.metrics.items():
                row.update({name: m.value, f"{name}_low": m.low, f"{name}_high": m.high})
            rows.append(row)
        return pd.DataFrame(rows)

    def figures(self) -> dict[str, dict[str, Any]]:
        """Plotly figure dicts: ``groups`` (each metric per group, with the confidence
        interval as error bars; small groups marked) and ``disparities``."""
        labels = [g.label + (" (small)" if g.small else "") for g in self.groups]
        traces = []
        for name in self.metrics:
            values = [g.metrics[name].value for g in self.groups]
            plus = [_gap(g.metrics[name], "high") for g in self.groups]
            minus = [_gap(g.metrics[name], "low") for g in self.groups]
            traces.append(
                {
                    "type": "bar",
                    "name": LABELS.get(name, name),
                    "x": labels,
                    "y": values,
                    "error_y": {"type": "data", "array": plus, "arrayminus": minus},
                }
            )
        by = " × ".join(self.sensitive)
        groups_fig = {
            "data": traces,
            "layout": {
                "title": {"text": f"{self.model}: metrics by {by} ({self.confidence:.0%} CI)"},
                "barmode": "group",
                "yaxis": {"rangemode": "tozero"},
            },
        }
        names = [k for k, v in self.disparities.items() if v is not None]
        disparity_fig = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [self.disparities[k] for k in names],
                    "y": [k.replace("_", " ") for k in names],
                }
            ],
            "layout": {"title": {"text": f"{self.model}: disparities by {by}"}},
        }
        return {"groups": groups_fig, "disparities": disparity_fig}

    def __str__(self) -> str:
        lines = [f"Fairness of {self.model} on {self.data or 'a data frame'} ({self.rows} rows)"]
        lines += [f"  {k}: {_fmt(v)}" for k, v in self.disparities.items()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _gap(metric: MetricValue, side: str) -> float | None:
    bound = metric.high if side == "high" else metric.low
    if bound is None or metric.value is None:
        return None
    return abs(bound - metric.value)


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"

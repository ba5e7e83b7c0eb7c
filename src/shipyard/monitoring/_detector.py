"""What a monitor detector is: :class:`Detector`, one entry of the table in ``_detectors.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CHARTS", "METRICS", "TARGETS", "Detector"]

TARGETS = ("deployment", "dataset")  # what a monitor watches: a model's traffic, a dataset
CHARTS = ("distributions", "table", "none")
# the metrics of the performance detector, and whether a higher value is better ("min": an
# alert when the metric falls below its threshold) or worse ("max")
METRICS = {"accuracy": "min", "error_rate": "max", "mae": "max", "rmse": "max"}


@dataclass(frozen=True)
class Detector:
    """One thing a monitor's check looks for in its windows.

    Attributes:
        name: what users list in ``detectors=`` (``data_drift``); stored with each result.
        run: ``(monitor, windows, log_dir) -> Outcome``: the finding (or no verdict and
            why), the values stored as the time series, and what the report charts.
        targets: the monitors it can serve: ``deployment`` (a model's traffic, its
            predictions and feedback) and/or ``dataset`` (a dataset's newest version).
        default_for: the targets whose monitors run it when ``detectors`` is not given.
        charts: what the report draws of the latest check: ``distributions`` (each
            feature, reference against current, and its deciding statistic over time),
            ``table`` (the rows of its charts) or ``none``.
        over_time: the statistics of its results the report charts over time.

    A detector that raises fails alone: the check records its error and runs the others.
    """

    name: str
    run: Callable[..., Any]
    targets: tuple[str, ...] = TARGETS
    default_for: tuple[str, ...] = ()
    charts: str = "none"
    over_time: tuple[str, ...] = ()

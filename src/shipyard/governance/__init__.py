"""Governance: explanations, fairness, mitigation, model cards and the audit log.

Promotion policies and their gates live with the registry (``shipyard.models``), which checks
them on every promotion; this package computes what the gates and the cards read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.governance._fairness import fairness, fairness_report
    from shipyard.governance._fairness_report import FairnessGroup, FairnessReport, MetricValue
    from shipyard.governance._mitigate import mitigate

__all__ = [
    "FairnessGroup",
    "FairnessReport",
    "MetricValue",
    "fairness",
    "fairness_report",
    "mitigate",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

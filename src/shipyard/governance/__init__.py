"""Governance: explanations, fairness and its mitigation, model cards and the audit log.

``sy.explain("churn@champion", rows)`` gives each column's SHAP contribution to each
prediction; ``explain_global`` records what matters overall with the version;
``fairness`` reports group metrics and disparities (Fairlearn) and ``mitigate`` registers a
fairer candidate; ``card`` assembles the model card; ``audit_log`` and ``verify_audit`` read
and check the tamper-evident log of every change. Promotion policies and their gates live
with the registry (``shipyard.models``), which checks them on every promotion; this package
computes what the gates and the cards read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.governance._audit import audit_log, verify_audit
    from shipyard.governance._card import ModelCard, card, set_card
    from shipyard.governance._explain import Explanation, explain
    from shipyard.governance._explain_global import (
        GlobalExplanation,
        explain_global,
        explanation,
    )
    from shipyard.governance._fairness import fairness, fairness_report
    from shipyard.governance._fairness_report import FairnessGroup, FairnessReport, MetricValue
    from shipyard.governance._mitigate import mitigate
    from shipyard.store import AuditBreak, AuditEntry, AuditReport

__all__ = [
    "AuditBreak",
    "AuditEntry",
    "AuditReport",
    "Explanation",
    "FairnessGroup",
    "FairnessReport",
    "GlobalExplanation",
    "MetricValue",
    "ModelCard",
    "audit_log",
    "card",
    "explain",
    "explain_global",
    "explanation",
    "fairness",
    "fairness_report",
    "mitigate",
    "set_card",
    "verify_audit",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

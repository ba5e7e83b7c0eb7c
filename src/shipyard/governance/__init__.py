"""Governance: explanations, fairness, mitigation, model cards and the audit log.

Promotion policies and their gates live with the registry (``shipyard.models``), which checks
them on every promotion; this package computes what the gates and the cards read.
"""

from __future__ import annotations

from shipyard.governance._audit import audit_log, verify_audit
from shipyard.store import AuditBreak, AuditEntry, AuditReport

__all__: list[str] = ["AuditBreak", "AuditEntry", "AuditReport", "audit_log", "verify_audit"]

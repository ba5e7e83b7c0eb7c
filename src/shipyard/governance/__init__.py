"""Governance: explanations, fairness, mitigation, model cards and the audit log.

Promotion policies and their gates live with the registry (``shipyard.models``), which checks
them on every promotion; this package computes what the gates and the cards read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.governance._card import ModelCard, card, set_card

__all__ = ["ModelCard", "card", "set_card"]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

"""Datasets: the bundled synthetic loan data (versioning and validation come next)."""

from __future__ import annotations

from shipyard.data._loans import make_loans

__all__ = ["make_loans"]

"""Monitoring: data drift between a reference and current windows, with a verdict.

``sy.monitoring.drift("loans@1", current_df)`` compares every feature (numeric: KS,
Wasserstein, PSI, Jensen–Shannon; categorical: chi-square, PSI, Jensen–Shannon) and says which
drifted and whether the dataset did; ``report.to_frame()`` has a row per feature.
"""

from __future__ import annotations

from shipyard.monitoring._drift import DEFAULTS, DriftReport, FeatureDrift, Reference, drift

__all__ = ["DEFAULTS", "DriftReport", "FeatureDrift", "Reference", "drift"]

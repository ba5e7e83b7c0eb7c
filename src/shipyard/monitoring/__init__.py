"""Monitoring: data drift between a reference and current windows, with a verdict.

``sy.monitoring.drift("loans@1", current_df)`` compares every feature (numeric: KS,
Wasserstein, PSI, Jensen–Shannon; categorical: chi-square, PSI, Jensen–Shannon) and says which
drifted and whether the dataset did; ``report.to_frame()`` has a row per feature and
``report.to_html(path)`` charts them. ``PageHinkley`` watches a metric stream for a lasting
rise (concept drift once labels arrive).
"""

from __future__ import annotations

from shipyard.monitoring._concept import PageHinkley, detect_changes
from shipyard.monitoring._drift import DEFAULTS, DriftReport, FeatureDrift, Reference, drift
from shipyard.monitoring._quality import quality

__all__ = [
    "DEFAULTS",
    "DriftReport",
    "FeatureDrift",
    "PageHinkley",
    "Reference",
    "detect_changes",
    "drift",
    "quality",
]

"""Monitoring: data drift, prediction drift, data quality and performance, with alerts.

``sy.monitoring.drift("loans@1", current_df)`` compares every feature (numeric: KS,
Wasserstein, PSI, Jensen–Shannon, Hellinger; categorical: chi-square, PSI, Jensen–Shannon,
Hellinger) and says which
drifted and whether the dataset did (``drift_stream`` the same over Parquet files or
batches larger than memory, in bounded memory); ``report.to_frame()`` has a row per feature and
``report.to_html(path)`` charts them. ``quality`` finds missing values, out-of-range values,
unseen categories and rows outside the dataset's schema; ``domain_drift`` asks a classifier
whether it can tell the windows apart (multivariate drift); ``PageHinkley`` watches a metric
stream for a lasting rise.

A monitor runs them on a deployment's traffic (or a dataset's versions) on a schedule:
``create_monitor("loans-watch", deployment="loans", window="1h", every="1h",
channels=["webhook:https://..."])``, then ``check("loans-watch")``; crossing a threshold
opens an alert (``list_alerts``, ``acknowledge``, ``resolve``) and notifies its channels;
``report("loans-watch", "watch.html")`` charts what it has seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.monitoring._alerts import (
        Alert,
        acknowledge,
        get_alert,
        list_alerts,
        record_action,
        resolve,
    )
    from shipyard.monitoring._channels import CHANNELS, Channel
    from shipyard.monitoring._checks import Check, check, checks, run_due, series
    from shipyard.monitoring._concept import PageHinkley, detect_changes
    from shipyard.monitoring._detector import Detector
    from shipyard.monitoring._detectors import DETECTOR_TABLE
    from shipyard.monitoring._domain import DomainDrift, domain_drift
    from shipyard.monitoring._drift import DEFAULTS, DriftReport, FeatureDrift, Reference, drift
    from shipyard.monitoring._monitor_report import report_data
    from shipyard.monitoring._monitor_report import write_report as report
    from shipyard.monitoring._monitors import DETECTORS, Monitor, delete_monitor, list_monitors
    from shipyard.monitoring._monitors import create as create_monitor
    from shipyard.monitoring._monitors import get as get_monitor
    from shipyard.monitoring._monitors import set_enabled as set_monitor_enabled
    from shipyard.monitoring._quality import quality
    from shipyard.monitoring._statistics import STATISTICS, DriftStatistic
    from shipyard.monitoring._stream import drift_stream


__all__ = [
    "CHANNELS",
    "DEFAULTS",
    "DETECTORS",
    "DETECTOR_TABLE",
    "STATISTICS",
    "Alert",
    "Channel",
    "Check",
    "Detector",
    "DomainDrift",
    "DriftReport",
    "DriftStatistic",
    "FeatureDrift",
    "Monitor",
    "PageHinkley",
    "Reference",
    "acknowledge",
    "check",
    "checks",
    "create_monitor",
    "delete_monitor",
    "detect_changes",
    "domain_drift",
    "drift",
    "drift_stream",
    "get_alert",
    "get_monitor",
    "list_alerts",
    "list_monitors",
    "quality",
    "record_action",
    "report",
    "report_data",
    "resolve",
    "run_due",
    "series",
    "set_monitor_enabled",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

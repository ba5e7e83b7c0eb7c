"""Experiments and runs: params, metric series, tags, artifacts, search and comparison."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.tracking._api import (
        compare_runs,
        delete_run,
        download_artifact,
        end_run,
        get_metric_history,
        get_run,
        list_experiments,
        load_artifact,
        log_artifact,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        search_runs,
        set_tag,
        start_run,
        tracking_store,
    )
    from shipyard.tracking._autolog import autolog
    from shipyard.tracking._backend import TrackingBackend
    from shipyard.tracking._downsample import downsample
    from shipyard.tracking._run import Run, active_run, last_run_id
    from shipyard.tracking._store import TrackingStore
    from shipyard.tracking._types import (
        ArtifactInfo,
        Experiment,
        LatestMetric,
        Point,
        RunData,
        RunId,
        RunInfo,
    )


__all__ = [
    "ArtifactInfo",
    "Experiment",
    "LatestMetric",
    "Point",
    "Run",
    "RunData",
    "RunId",
    "RunInfo",
    "TrackingBackend",
    "TrackingStore",
    "active_run",
    "autolog",
    "compare_runs",
    "delete_run",
    "download_artifact",
    "downsample",
    "end_run",
    "get_metric_history",
    "get_run",
    "last_run_id",
    "list_experiments",
    "load_artifact",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "start_run",
    "tracking_store",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

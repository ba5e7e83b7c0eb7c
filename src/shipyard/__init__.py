"""Shipyard: a production ML platform in one package.

``import shipyard as sy``, then ``with sy.start_run(experiment="churn") as run: ...``.
"""

from __future__ import annotations

from shipyard import data as datasets
from shipyard import models
from shipyard._version import __version__
from shipyard.automl import automl, train, tune
from shipyard.tracking import (
    active_run,
    autolog,
    compare_runs,
    delete_run,
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
)

__all__ = [
    "__version__",
    "active_run",
    "autolog",
    "automl",
    "compare_runs",
    "datasets",
    "delete_run",
    "end_run",
    "get_metric_history",
    "get_run",
    "list_experiments",
    "load_artifact",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "models",
    "search_runs",
    "set_tag",
    "start_run",
    "train",
    "tune",
]

"""Shipyard: a production ML platform in one package.

``import shipyard as sy``, then ``with sy.start_run(experiment="churn") as run: ...``.

The names below load on first use, so that importing one capability (or a pipeline
worker) does not import them all.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from shipyard._version import __version__

if TYPE_CHECKING:
    from shipyard import (
        data,
        governance,
        models,
        monitoring,
        pipelines,
        quickstart,
        server,
        serving,
        tracking,
    )
    from shipyard import data as datasets
    from shipyard.automl import automl, train, tune
    from shipyard.governance import explain
    from shipyard.pipelines import pipeline, step
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

_TRACKING = (
    "active_run",
    "autolog",
    "compare_runs",
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
    "search_runs",
    "set_tag",
    "start_run",
)
#: name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "data": ("shipyard.data", None),
    "governance": ("shipyard.governance", None),
    "explain": ("shipyard.governance", "explain"),
    "datasets": ("shipyard.data", None),
    "models": ("shipyard.models", None),
    "monitoring": ("shipyard.monitoring", None),
    "pipelines": ("shipyard.pipelines", None),
    "quickstart": ("shipyard.quickstart", None),
    "server": ("shipyard.server", None),
    "serving": ("shipyard.serving", None),
    "tracking": ("shipyard.tracking", None),
    "automl": ("shipyard.automl", "automl"),
    "train": ("shipyard.automl", "train"),
    "tune": ("shipyard.automl", "tune"),
    "pipeline": ("shipyard.pipelines", "pipeline"),
    "step": ("shipyard.pipelines", "step"),
    **{name: ("shipyard.tracking", name) for name in _TRACKING},
}

__all__ = [
    "__version__",
    "active_run",
    "autolog",
    "automl",
    "compare_runs",
    "data",
    "datasets",
    "delete_run",
    "end_run",
    "explain",
    "get_metric_history",
    "get_run",
    "governance",
    "list_experiments",
    "load_artifact",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "models",
    "monitoring",
    "pipeline",
    "pipelines",
    "quickstart",
    "search_runs",
    "server",
    "serving",
    "set_tag",
    "start_run",
    "step",
    "tracking",
    "train",
    "tune",
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    module = importlib.import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(types.ModuleType):
    """``shipyard`` itself: ``sy.automl`` stays the AutoML function when something imports
    the ``shipyard.automl`` package (which would make the package the attribute)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "automl" and isinstance(value, types.ModuleType):
            return  # ``sy.automl`` loads the function on first use (``__getattr__``)
        super().__setattr__(name, value)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # pickled by name, as plain modules are (a step pickled by value may refer to it)
        return importlib.import_module, (self.__name__,)


sys.modules[__name__].__class__ = _Package

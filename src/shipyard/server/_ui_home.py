"""The home page: the loop at a glance.

What is in production (each model's champion or production version with its key metric,
and each deployment's routes and traffic split), what is drifting (each monitor's last
verdict, the alerts still open), what is retraining (pipeline runs queued, running and
just finished) and the latest runs, each linking to its own page. Everything comes from the
capabilities' public functions; a capability that cannot answer shows its one-line error
in its panel instead of taking the page down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse

from shipyard import models, monitoring, pipelines
from shipyard.errors import ShipyardError
from shipyard.server._access import VIEWER
from shipyard.server._ui import pages, render
from shipyard.server._ui_run import PER_STEP, default_columns, table_rows
from shipyard.serving import deployments
from shipyard.tracking import list_experiments, search_runs

__all__ = ["router"]

router = pages()

#: rows of each list on the page
SHOWN = 8
#: the metric a model's card shows: the first of these it has, else its first by name
KEY_METRICS = ("auc", "roc_auc", "accuracy", "f1", "r2", "rmse", "mae", "log_loss")
#: aliases that say "this one serves", in order of preference
SERVING_ALIASES = ("champion", "production", "prod", "live")

T = TypeVar("T")


def _ask(errors: list[str], what: str, call: Callable[[], T], default: T) -> T:
    """``call()``, or ``default`` with the error noted for the page when it fails."""
    try:
        return call()
    except ShipyardError as error:
        errors.append(f"{what}: {error}")
        return default


@router.get("/", dependencies=[VIEWER])
def home(request: Request) -> HTMLResponse:
    """What is in production, what is drifting, what is retraining, the latest runs."""
    errors: list[str] = []
    served: list[dict[str, Any]] = _ask(errors, "models", _models, [])
    routes: list[dict[str, Any]] = _ask(errors, "deployments", _deployments, [])
    watched: list[dict[str, Any]] = _ask(errors, "monitors", _monitors, [])
    alerts: list[monitoring.Alert] = _ask(
        errors, "alerts", lambda: monitoring.list_alerts(status="active", limit=SHOWN), []
    )
    retraining = _ask(errors, "pipelines", _pipeline_runs, {"runs": [], "busy": 0})
    latest = _ask(errors, "runs", _latest_runs, {"rows": [], "columns": (), "total": 0})
    drifting = [m for m in watched if m["verdict"] == "alert"]
    return render(
        request,
        "home.html",
        models=served,
        deployments=routes,
        monitors=watched,
        drifting=drifting,
        alerts=alerts,
        open_alerts=sum(m["open"] for m in watched) or len(alerts),
        pipeline_runs=retraining["runs"],
        busy=retraining["busy"],
        runs=latest,
        errors=errors,
    )


def _models() -> list[dict[str, Any]]:
    """Each model with the version that serves (an alias like champion, else the
    production stage, else the latest) and that version's key metric."""
    found = []
    for model in models.list_models():
        alias = next((a for a in SERVING_ALIASES if a in model.aliases), None)
        version = model.aliases[alias] if alias else (model.production or model.latest)
        serving = models.get(f"{model.name}@{version}") if version else None
        metric = _key_metric(serving.metrics if serving else {})
        found.append(
            {
                "name": model.name,
                "versions": model.versions,
                "version": version,
                "alias": alias or ("production" if model.production else None),
                "aliases": sorted(model.aliases.items()),
                "metric": metric,
                "run_id": serving.run_id if serving else None,
                "created_at": serving.created_at if serving else model.created_at,
                "live": bool(alias or model.production),
            }
        )
    found.sort(key=lambda m: (not m["live"], m["name"]))
    return found


def _key_metric(metrics: dict[str, Any]) -> tuple[str, Any] | None:
    numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    for key in KEY_METRICS:
        if key in numbers:
            return key, numbers[key]
    return min(numbers.items()) if numbers else None


def _deployments() -> list[dict[str, Any]]:
    """Each deployment's routes with their share of traffic, and its policy's state."""
    found = []
    for deployment in deployments.list_deployments():
        total = sum(r.weight for r in deployment.routes) or 1.0
        policy = dict(deployment.policy or {})
        found.append(
            {
                "name": deployment.name,
                "routes": [
                    {"name": r.name, "model": r.model, "share": 100.0 * r.weight / total}
                    for r in deployment.routes
                ],
                "policy": policy.get("kind", "fixed"),
                "state": policy.get("status"),
                "revision": deployment.revision,
                "updated_at": deployment.updated_at,
            }
        )
    return found


def _monitors() -> list[dict[str, Any]]:
    """Each monitor's target, last verdict and open alerts."""
    active = Counter(a.monitor for a in monitoring.list_alerts(status="active", limit=1000))
    found: list[dict[str, Any]] = []
    for monitor in monitoring.list_monitors():
        last = monitoring.checks(monitor.name, limit=1)
        found.append(
            {
                "name": monitor.name,
                "target_kind": monitor.target_kind,
                "target": monitor.target,
                "verdict": last[0].status if last else None,
                "checked_at": last[0].at if last else None,
                "open": active.get(monitor.name, 0),
                "enabled": monitor.enabled,
                "every": monitor.every,
            }
        )
    found.sort(key=lambda m: (m["verdict"] != "alert", -m["open"], m["name"]))
    return found


def _pipeline_runs() -> dict[str, Any]:
    """Pipeline runs under way first, then the latest; how many are queued or running."""
    busy = [
        *pipelines.list_runs(status="running", limit=SHOWN),
        *pipelines.list_runs(status="queued", limit=SHOWN),
    ]
    seen = {r.id for r in busy}
    recent = [r for r in pipelines.list_runs(limit=SHOWN) if r.id not in seen]
    return {"runs": (busy + recent)[:SHOWN], "busy": len(busy)}


def _latest_runs() -> dict[str, Any]:
    """The newest runs, with the two metrics most of them have (not a search's per-fold or
    per-rung scores: its pruned trials log only those)."""
    frame = search_runs(max_results=SHOWN)
    columns = tuple(c for c in default_columns(frame, 2, 0) if not c.startswith(PER_STEP))
    total = sum(e.run_count or 0 for e in list_experiments())
    return {"rows": table_rows(frame, columns), "columns": columns, "total": total}

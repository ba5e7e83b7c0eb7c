"""The quick start's live stages: serve the champion over HTTP, monitor its traffic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shipyard.quickstart._loop import drive_canary, prepare
from shipyard.quickstart._stages import MODEL, TARGET, Loop

JSON_HEADERS = {"content-type": "application/json"}


def serve_traffic(loop: Loop, _item: None) -> None:
    loop.served = _serve(loop.later, requests=loop.options.serve_requests)


def try_canary(loop: Loop, _item: None) -> None:
    loop.canaried = _canary(loop.later, requests=loop.options.canary_requests)


def watch(loop: Loop, _item: None) -> None:
    loop.watched = _monitor(loop.reference.ref, requests=loop.options.serve_requests)


def _serve(later: pd.DataFrame, requests: int) -> dict[str, Any]:
    """Deployment ``loans`` (champion answers, challenger shadows), served from a thread:
    one-record requests, outcomes posted as feedback, the inference log read back."""
    import time

    import httpx
    import orjson

    from shipyard import serving

    name = "loans"
    routes = {"champion": f"{MODEL}@champion", "challenger": f"{MODEL}@challenger"}
    if any(d.name == name for d in serving.deployments.list_deployments()):
        serving.deployments.delete(name)  # a quick start run again starts afresh
    serving.deployments.create(name, routes, policy="shadow", reason="quick start")
    records = later.drop(columns=[TARGET]).head(requests)
    outcomes = later[TARGET].head(requests).tolist()
    latencies = []
    app = serving.create_app(deployment=name, poll=0)
    with serving.background(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        ids = []
        for record in records.to_dict("records"):
            record["applied_at"] = str(record["applied_at"])
            body = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)  # NaN as null
            started = time.perf_counter()
            answer = client.post("/predict", content=body, headers=JSON_HEADERS)
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()
            ids.append(answer.json()["id"])
        feedback = [{"id": i, "label": int(y)} for i, y in zip(ids, outcomes, strict=True)]
        client.post("/feedback", json=feedback).raise_for_status()
    log = serving.read_requests(name).to_pandas()
    log = log[log["request_id"].isin(ids)]
    primary = log[~log["shadow"]].set_index("request_id")["prediction"]
    shadow = log[log["shadow"]].set_index("request_id")["prediction"]
    both = primary.index.intersection(shadow.index)
    agreement = float((primary[both] == shadow[both]).mean()) if len(both) else 0.0
    return {
        "deployment": name,
        "served": len(ids),
        "served_p50_ms": float(np.median(latencies) * 1e3),
        "shadow_agreement": agreement,
        "logged_rows": len(log),
        "feedback_rows": len(serving.read_feedback(name)),
    }


def _canary(later: pd.DataFrame, requests: int) -> dict[str, Any]:
    """The challenger as a canary of ``loans``: its share grows (25, 50, 100%) while the
    sequential tests find it no worse than the champion on errors, model time and the
    accuracy of the labels posted after each answer; rolled back as soon as one finds it
    worse. Sends up to ``requests`` requests, stopping once the canary is decided."""
    from shipyard import serving

    name = "loans"
    # The champion answers through ONNX Runtime (~0.2 ms a call), the challenger natively:
    # at the default latency ratio (2) the canary would stop at its speed alone; 25 keeps
    # this one about whether its answers are as good.
    serving.deployments.set_policy(
        name, "canary", baseline="champion", candidate="challenger", steps=[25, 50, 100],
        step_requests=60, min_labels=30, max_latency_ratio=25.0,
        reason="quick start: try the challenger live",
    )  # fmt: skip
    sent = drive_canary(name, later, requests)
    stored = serving.deployments.get(name)
    decision = serving.deployments.last_decision(name) or {}
    return {
        "canary_status": stored.policy.get("status", ""),
        "canary_requests": sent,
        "canary_why": decision.get("why") or "",
        "canary_split": {r.name: r.weight for r in stored.routes},
    }


def _monitor(reference: str, requests: int) -> dict[str, Any]:
    """Monitor ``loans-watch`` on the deployment's last ``requests`` rows and
    ``loans-data`` on the dataset's newest version, each checked once; alerts go to the
    log; the deployment monitor's report is written under ``SHIPYARD_HOME/reports``."""
    from shipyard import monitoring
    from shipyard.config import get_settings

    for existing in monitoring.list_monitors():
        if existing.name in ("loans-watch", "loans-data"):
            monitoring.delete_monitor(existing.name)  # a quick start run again starts afresh
    monitoring.create_monitor(
        "loans-watch",
        deployment="loans",
        window=requests,
        every="1h",
        detectors=["data_drift", "prediction_drift", "quality", "performance", "multivariate"],
        metric_threshold=0.75,
        channels=["log"],
        on_alert=[prepare("loans")],  # its alerts start the retraining pipeline
    )
    monitoring.create_monitor(
        "loans-data", dataset="loans", reference=reference, every="1d", channels=["log"]
    )
    checked = monitoring.check("loans-watch")
    monitoring.check("loans-data")
    folder = get_settings().home / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    page = monitoring.report("loans-watch", folder / "loans-watch.html")
    return {
        "monitor": "loans-watch",
        "monitor_status": checked.status,
        "monitor_findings": {k: str(v["title"]) for k, v in checked.detectors.items()},
        "alerts": [f"{a.id} {a.monitor}: {a.title}" for a in monitoring.list_alerts(status="open")],
        "monitor_report": str(page),
        "api": _through_the_api("loans-watch"),
    }


def _through_the_api(monitor: str) -> dict[str, Any]:
    """The monitor's report data as the platform API answers it, and the web UI's pages
    (served from a thread)."""
    import httpx

    from shipyard import server, serving

    pages = ["/", "/runs", "/datasets", "/models", "/deployments", f"/monitors/{monitor}"]
    pages += ["/alerts", "/pipelines"]
    with serving.background(server.create_app()) as url:
        answer = httpx.get(f"{url}/api/monitors/{monitor}/report", timeout=60)
        answer.raise_for_status()
        body = answer.json()
        for page in pages:  # the web UI's pages over the same store
            shown = httpx.get(f"{url}{page}", timeout=60)
            shown.raise_for_status()
            if not shown.headers["content-type"].startswith("text/html"):
                raise RuntimeError(f"the web UI's {page} answered {shown.headers['content-type']}")
    return {
        "endpoint": f"GET /api/monitors/{monitor}/report",
        "checks": len(body["checks"]),
        "series": len(body["series"]),
        "alerts": len(body["alerts"]),
        "pages": pages,
    }

"""The quick start's closed loop: the alert the drifted month opened starts the retraining
pipeline, whose candidate goes on canary, which the canary policy promotes or rolls back.

Before the monitor stage checks the traffic, :func:`prepare` registers the stock retraining
pipeline ``retrain-loans`` (the champion's configuration refitted on the newest month,
judged against the champion on the same holdout, no AUC drop beyond 0.02, then a canary),
and the deployment monitor names it in ``on_alert``. :func:`close_the_loop` then does what
``shipyard scheduler`` does on its own: one round fires the open alert's pipeline (the
alert records the run, the run the alert) and runs it here; then the next weeks of the
drifted population arrive as traffic with their outcomes, until the canary is decided.
"""

from __future__ import annotations

from typing import Any

from shipyard.quickstart._stages import TARGET, Loop

PIPELINE = "retrain-loans"


def prepare(deployment: str) -> str:
    """Register the retraining pipeline for ``deployment``; the ``on_alert`` entry naming it."""
    from shipyard import pipelines

    pipelines.retraining(
        PIPELINE,
        deployment=deployment,
        target=TARGET,
        dataset="loans",
        tolerance=0.02,  # judged on a few hundred holdout rows of one month
        canary={"steps": [25, 50, 100], "step_requests": 60, "min_labels": 30},
    )
    return f"pipeline:{PIPELINE}"


def close_the_loop(loop: Loop, _item: None) -> None:
    loop.looped = _close(loop)


def _close(loop: Loop) -> dict[str, Any]:
    from shipyard import monitoring, pipelines, serving
    from shipyard.data import make_loans

    scheduler = pipelines.Scheduler(monitors=False, max_runs=1)
    scheduler.tick()
    scheduler.wait(timeout=900)
    started = [r for r in pipelines.list_runs(PIPELINE, limit=10) if (r.trigger or {}).get("alert")]
    if not started:
        return {"retrain_status": "not started (no alert named it)"}
    run = pipelines.get_run(started[0].id)
    alert = monitoring.get_alert(int(run.trigger["alert"])) if run.trigger else None
    result: dict[str, Any] = {
        "retrain_run": run.id,
        "retrain_status": run.status,
        "retrain_alert": f"{alert.id} {alert.title}" if alert is not None else "",
        "retrain_steps": [f"{s.name} {s.status}" for s in run.steps],
        "retrain_error": run.error or "",
    }
    if run.status != "succeeded":
        return result
    register = run.step("register")
    result["retrain_candidate"] = register.links[0].split(":", 1)[1] if register.links else ""
    options = loop.options
    weeks = make_loans(options.canary_requests, seed=options.seed + 2, drift=0.6)
    sent = drive_canary("loans", weeks, options.canary_requests)
    stored = serving.deployments.get("loans")
    decision = serving.deployments.last_decision("loans") or {}
    result.update(
        retrain_canary=stored.policy.get("status", ""),
        retrain_canary_requests=sent,
        retrain_canary_why=decision.get("why") or "",
    )
    return result


def drive_canary(name: str, frame: Any, requests: int) -> int:
    """Send ``frame``'s rows to deployment ``name`` (served from a thread), each answer's
    outcome posted as feedback, until its canary is decided or ``requests`` were sent."""
    import httpx
    import orjson

    from shipyard import serving

    records = frame.drop(columns=[TARGET]).head(requests).to_dict("records")
    outcomes = frame[TARGET].head(requests).tolist()
    app = serving.create_app(deployment=name, poll=0.05)
    sent = 0
    headers = {"content-type": "application/json"}
    with serving.background(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        for record, outcome in zip(records, outcomes, strict=True):
            record["applied_at"] = str(record["applied_at"])
            body = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)  # NaN as null
            answer = client.post("/predict", content=body, headers=headers)
            answer.raise_for_status()
            client.post("/feedback", json={"id": answer.json()["id"], "label": int(outcome)})
            sent += 1
            if sent % 20 == 0 and serving.deployments.get(name).policy.get("status") != "running":
                break
    return sent

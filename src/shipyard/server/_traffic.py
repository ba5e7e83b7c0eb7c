"""A deployment's live traffic, from its inference log: requests, latency and shadow
agreement per route, bucketed by minute; and where its rollout stands (canary steps,
each route's share and pooled evidence: a bandit's arms).

The inference log holds the answered requests (and shadow copies), not the failures:
errors come from the evidence the deployment's servers pool (``deployments.statistics``),
for the policy's current period.
"""

from __future__ import annotations

import math
import time
from typing import Any

from shipyard._time import iso
from shipyard.serving import deployments, read_requests

__all__ = ["progress", "traffic"]

BUCKET = 60.0  # seconds per point of the series


def traffic(name: str, minutes: int, until: float | None = None) -> dict[str, Any]:
    """Per route and minute over the ``minutes`` before ``until`` (default now): requests,
    request rate, model latency p50/p99; the shadow routes' agreement with the answers; the
    pooled error rate of each route. ``latest_at``: the newest logged request (any time),
    so a page can say when traffic stopped."""
    deployment = deployments.get(name)  # NotFound for an unknown name
    end = time.time() if until is None else until
    start = end - minutes * 60.0
    first = math.floor(start / BUCKET) * BUCKET
    edges = [first + i * BUCKET for i in range(math.ceil((end - first) / BUCKET))]
    table = read_requests(name, since=first, until=end)
    newest = read_requests(name, last=1)
    routes = [r.name for r in deployment.routes]
    series: list[dict[str, Any]] = []
    agreement: list[dict[str, Any]] = []
    if table is not None and table.num_rows:
        frame = table.select(
            ["request_id", "row", "at", "route", "latency_ms", "prediction", "shadow"]
        ).to_pandas()
        series = _series(frame, edges)
        agreement = _agreement(frame)
        routes += sorted({s["route"] for s in series} - set(routes))
    evidence = _evidence(name)
    return {
        "name": name,
        "minutes": minutes,
        "since": iso(first),
        "until": iso(end),
        "bucket_seconds": int(BUCKET),
        "times": [iso(t) for t in edges],
        "series": series,
        "shadow": agreement,
        "errors": [
            {"route": r, **evidence.get(r, {"requests": 0, "errors": 0, "error_rate": None})}
            for r in routes
        ],
        "latest_at": None if newest is None else float(newest.column("at")[0].as_py()),
    }


def _series(frame: Any, edges: list[float]) -> list[dict[str, Any]]:
    """One entry per (route, shadow): requests, rate and latency quantiles per bucket."""
    import numpy as np

    requests = frame.groupby(["request_id", "route", "shadow"], sort=False).agg(
        at=("at", "min"), latency_ms=("latency_ms", "max")
    )
    requests = requests.reset_index()
    requests["bucket"] = ((requests["at"] - edges[0]) // BUCKET).astype(int)
    requests = requests[(requests["bucket"] >= 0) & (requests["bucket"] < len(edges))]
    out = []
    for (route, shadow), rows in requests.groupby(["route", "shadow"], sort=True):
        counts = np.zeros(len(edges), dtype=int)
        p50: list[float | None] = [None] * len(edges)
        p99: list[float | None] = [None] * len(edges)
        for bucket, group in rows.groupby("bucket"):
            latency = group["latency_ms"].to_numpy(dtype=float)
            counts[int(bucket)] = len(group)
            p50[int(bucket)] = round(float(np.quantile(latency, 0.5)), 3)
            p99[int(bucket)] = round(float(np.quantile(latency, 0.99)), 3)
        out.append(
            {
                "route": str(route),
                "shadow": bool(shadow),
                "total": int(counts.sum()),
                "requests": counts.tolist(),
                "rate_per_s": [round(c / BUCKET, 4) for c in counts.tolist()],
                "p50_ms": p50,
                "p99_ms": p99,
            }
        )
    return out


def _agreement(frame: Any) -> list[dict[str, Any]]:
    """Each shadow route: the rows it answered that were also answered to a caller, and the
    share whose prediction was the same."""
    answered = frame[~frame["shadow"]][["request_id", "row", "prediction"]]
    out = []
    for route, rows in frame[frame["shadow"]].groupby("route", sort=True):
        both = rows.merge(answered, on=["request_id", "row"], suffixes=("", "_answer"))
        same = (both["prediction"].astype(str) == both["prediction_answer"].astype(str)).sum()
        compared = len(both)
        out.append(
            {
                "route": str(route),
                "compared": compared,
                "agreement": round(float(same) / compared, 6) if compared else None,
            }
        )
    return out


def _evidence(name: str) -> dict[str, dict[str, Any]]:
    """Each route's pooled requests and errors in the policy's current period."""
    out = {}
    for route, stats in deployments.statistics(name).items():
        attempts = stats.attempts
        out[route] = {
            "requests": attempts,
            "errors": stats.errors,
            "error_rate": round(stats.errors / attempts, 6) if attempts else None,
        }
    return out


def progress(name: str) -> dict[str, Any]:
    """Where the rollout stands: the policy, each route's share with its pooled evidence
    (a bandit's arms: requests, rewards), and for a canary its steps, the current one, the
    candidate's requests toward the next and the judge's checks."""
    deployment = deployments.get(name)
    policy = deployment.policy
    stats = deployments.statistics(name)
    routes = []
    for route in deployment.routes:
        found = stats.get(route.name)
        routes.append(
            {
                "route": route.name,
                "model": route.model,
                "share": route.weight,
                "requests": found.attempts if found else 0,
                "rewarded": found.rewarded if found else 0,
                "reward_mean": found.reward_mean() if found else None,
                "accuracy": found.accuracy() if found else None,
            }
        )
    canary = None
    if policy.get("kind") == "canary":
        candidate = str(policy["candidate"])
        found = stats.get(candidate)
        details = deployments.ab_statistics(name)
        canary = {
            "baseline": policy["baseline"],
            "candidate": candidate,
            "steps": list(policy.get("steps", [])),
            "step": int(policy.get("step", 0)),
            "status": policy.get("status"),
            "share": deployment.split.get(candidate),
            "step_requests": int(policy.get("step_requests", 0)),
            "candidate_requests": found.attempts if found else 0,
            "checks": details.get("checks", {}),
        }
    return {
        "name": name,
        "kind": policy.get("kind", "fixed"),
        "policy": policy,
        "routes": routes,
        "canary": canary,
        "decision": deployments.last_decision(name),
    }

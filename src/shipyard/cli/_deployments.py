"""``shipyard deployments``: create, list, show, set-policy, set-route, promote, rollback."""

from __future__ import annotations

from typing import Any

import typer

from shipyard.cli._common import console, handle_errors, print_json, table, when
from shipyard.errors import InvalidInput

app = typer.Typer(
    help="Deployments: routes to model versions and a traffic policy, changed live.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
REASON = typer.Option(None, "--reason", "-r", help="Why (recorded in the history).")
POLICY_HELP = "fixed (A/B split), canary, blue_green, shadow or bandit."


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise InvalidInput(f"{what} must look like NAME=VALUE; got {value!r}.")
        out[key] = rest
    return out


def _params(
    split: list[str] | None,
    sticky: str | None,
    baseline: str | None,
    candidate: str | None,
    steps: str | None,
    step_requests: int | None,
    max_error_rate: float | None,
    max_latency_ratio: float | None,
    live: str | None,
    primary: str | None,
    algorithm: str | None,
    epsilon: float | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "sticky": sticky,
        "baseline": baseline,
        "candidate": candidate,
        "step_requests": step_requests,
        "max_error_rate": max_error_rate,
        "max_latency_ratio": max_latency_ratio,
        "live": live,
        "primary": primary,
        "algorithm": algorithm,
        "epsilon": epsilon,
    }
    if split:
        shares = _pairs(split, "--split")
        try:
            params["split"] = {k: float(v) for k, v in shares.items()}
        except ValueError as exc:
            raise InvalidInput(f"--split percentages must be numbers: {exc}.") from exc
    if steps:
        try:
            params["steps"] = [float(s) for s in steps.split(",")]
        except ValueError as exc:
            raise InvalidInput(f"--steps must be percentages like 5,25,50,100: {exc}.") from exc
    return {k: v for k, v in params.items() if v is not None}


SPLIT = typer.Option(None, "--split", help="Route share, ROUTE=PERCENT (repeat).")
STICKY = typer.Option(None, "--sticky", help="Request field or header that pins a route.")
BASELINE = typer.Option(None, "--baseline", help="Canary: the route serving now.")
CANDIDATE = typer.Option(None, "--candidate", help="Canary: the route being tried.")
STEPS = typer.Option(None, "--steps", help="Canary shares, e.g. 5,25,50,100.")
STEP_REQUESTS = typer.Option(None, "--step-requests", help="Canary requests per step.")
MAX_ERRORS = typer.Option(None, "--max-error-rate", help="Canary: largest failed share.")
MAX_LATENCY = typer.Option(None, "--max-latency-ratio", help="Canary: p99 over baseline's.")
LIVE = typer.Option(None, "--live", help="Blue-green: the route taking traffic.")
PRIMARY = typer.Option(None, "--primary", help="Shadow: the route whose answers return.")
ALGORITHM = typer.Option(None, "--algorithm", help="Bandit: thompson or epsilon_greedy.")
EPSILON = typer.Option(None, "--epsilon", help="Bandit: exploration share (epsilon_greedy).")


@app.command("create")
@handle_errors
def create_cmd(
    name: str = typer.Argument(..., help="Deployment name."),
    route: list[str] = typer.Option(..., "--route", help="ROUTE=MODEL@VERSION (repeat)."),
    policy: str = typer.Option("fixed", "--policy", "-p", help=POLICY_HELP),
    split: list[str] = SPLIT,
    sticky: str = STICKY,
    baseline: str = BASELINE,
    candidate: str = CANDIDATE,
    steps: str = STEPS,
    step_requests: int = STEP_REQUESTS,
    max_error_rate: float = MAX_ERRORS,
    max_latency_ratio: float = MAX_LATENCY,
    live: str = LIVE,
    primary: str = PRIMARY,
    algorithm: str = ALGORITHM,
    epsilon: float = EPSILON,
    description: str = typer.Option(None, "--description"),
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Create a deployment: routes to model versions and a traffic policy."""
    from shipyard.serving import deployments

    params = _params(
        split, sticky, baseline, candidate, steps, step_requests, max_error_rate,
        max_latency_ratio, live, primary, algorithm, epsilon,
    )  # fmt: skip
    made = deployments.create(
        name,
        _pairs(route, "--route"),
        policy=policy,
        description=description,
        reason=reason,
        **params,
    )
    _show(made, as_json)


@app.command("list")
@handle_errors
def list_cmd(as_json: bool = JSON) -> None:
    """List deployments with their policy and split."""
    from shipyard.serving import deployments

    found = deployments.list_deployments()
    if as_json:
        print_json([_json(d) for d in found])
        return
    rows = [
        [
            d.name,
            d.policy["kind"],
            ", ".join(f"{r.name}={r.model} {r.weight:g}%" for r in d.routes),
            str(d.revision),
            when(d.updated_at),
        ]
        for d in found
    ]
    console.print(table("Deployments", ["name", "policy", "routes", "revision", "updated"], rows))


@app.command("show")
@handle_errors
def show_cmd(name: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """A deployment's routes, policy and recent history."""
    from shipyard.serving import deployments

    _show(deployments.get(name), as_json, history=True)


@app.command("set-policy")
@handle_errors
def set_policy_cmd(
    name: str = typer.Argument(...),
    policy: str = typer.Argument(..., help=POLICY_HELP),
    split: list[str] = SPLIT,
    sticky: str = STICKY,
    baseline: str = BASELINE,
    candidate: str = CANDIDATE,
    steps: str = STEPS,
    step_requests: int = STEP_REQUESTS,
    max_error_rate: float = MAX_ERRORS,
    max_latency_ratio: float = MAX_LATENCY,
    live: str = LIVE,
    primary: str = PRIMARY,
    algorithm: str = ALGORITHM,
    epsilon: float = EPSILON,
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Change the traffic policy (running servers follow within their poll interval)."""
    from shipyard.serving import deployments

    params = _params(
        split, sticky, baseline, candidate, steps, step_requests, max_error_rate,
        max_latency_ratio, live, primary, algorithm, epsilon,
    )  # fmt: skip
    _show(deployments.set_policy(name, policy, reason=reason, **params), as_json)


@app.command("set-route")
@handle_errors
def set_route_cmd(
    name: str = typer.Argument(...),
    route: str = typer.Argument(..., help="Route name."),
    model: str = typer.Argument(..., help="Model reference, e.g. fraud@5."),
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Point a route at another model version."""
    from shipyard.serving import deployments

    _show(deployments.set_route(name, route, model, reason=reason), as_json)


@app.command("promote")
@handle_errors
def promote_cmd(
    name: str = typer.Argument(...),
    route: str = typer.Argument(
        None, help="Route to give all traffic (canary/blue-green: the other)."
    ),
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Send all traffic to one route (blue-green switch, canary promotion)."""
    from shipyard.serving import deployments

    _show(deployments.promote(name, route, reason=reason), as_json)


@app.command("rollback")
@handle_errors
def rollback_cmd(
    name: str = typer.Argument(...), reason: str = REASON, as_json: bool = JSON
) -> None:
    """Undo the last promote, step or policy change (again to go further back)."""
    from shipyard.serving import deployments

    _show(deployments.rollback(name, reason=reason), as_json)


@app.command("delete")
@handle_errors
def delete_cmd(name: str = typer.Argument(...)) -> None:
    """Delete a deployment and its history (models are untouched)."""
    from shipyard.serving import deployments

    deployments.delete(name)
    console.print(f"Deleted deployment {name}.")


def _json(d: Any) -> dict[str, Any]:
    return {
        "name": d.name,
        "policy": d.policy,
        "routes": [{"route": r.name, "model": r.model, "weight": r.weight} for r in d.routes],
        "revision": d.revision,
        "description": d.description,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }


def _show(d: Any, as_json: bool, history: bool = False) -> None:
    from shipyard.serving import deployments

    events = deployments.history(d.name, limit=20) if history else []
    if as_json:
        data = _json(d)
        if history:
            data["history"] = [e.__dict__ for e in events]
        print_json(data)
        return
    policy = ", ".join(f"{k}={v}" for k, v in d.policy.items() if k != "kind")
    console.print(f"[bold]{d.name}[/] — {d.policy['kind']} ({policy}) — revision {d.revision}")
    console.print(
        table(
            "Routes",
            ["route", "model", "share"],
            [[r.name, r.model, f"{r.weight:g}%"] for r in d.routes],
        )
    )
    if events:
        rows = [
            [when(e.at), e.kind, e.actor or "", e.reason or "", _change(e.detail)] for e in events
        ]
        console.print(table("History", ["when", "what", "who", "why", "split"], rows))


def _change(detail: dict[str, Any]) -> str:
    after = detail.get("after", {}).get("split") or detail.get("split")
    if not after:
        return ""
    return ", ".join(f"{k} {v:g}%" for k, v in after.items())

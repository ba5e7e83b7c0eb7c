"""``shipyard deployments``: create, list, show, set-policy, set-route, promote, rollback.

``show`` prints the reason of the last automatic decision (a canary's step or rollback, an
A/B test's conclusion); :func:`statistics_table` renders a policy's A/B statistics
(``RolloutPolicy.statistics``) as a table."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer

from shipyard.cli._common import (
    console,
    float_option,
    handle_errors,
    int_option,
    print_json,
    table,
    when,
)
from shipyard.config import empty_store_message, get_settings
from shipyard.errors import InvalidInput

app = typer.Typer(
    help="Deployments: routes to model versions and a traffic policy, changed live.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
REASON = typer.Option(None, "--reason", "-r", help="Why (recorded in the history).")


def _policy_help() -> str:
    from shipyard.serving import POLICIES

    names = [f"{p.name} ({p.summary})" for p in POLICIES.values()]
    return ", ".join(names[:-1]) + " or " + names[-1] + "."


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise InvalidInput(f"{what} must look like NAME=VALUE; got {value!r}.")
        out[key] = rest
    return out


def _policy_params() -> dict[str, list[tuple[Any, Any]]]:
    """Every policy parameter by name: (its Param, its policy) for each policy that takes a
    parameter of that name, from the table."""
    from shipyard.serving import POLICIES

    found: dict[str, list[tuple[Any, Any]]] = {}
    for policy in POLICIES.values():
        for param in policy.params:
            found.setdefault(param.name, []).append((param, policy))
    return found


def _with_policy_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` (which takes ``**options``) one CLI option per policy parameter,
    as each policy defines it: a new policy's parameters become options by themselves."""
    signature = inspect.signature(command)
    kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    for name, takers in _policy_params().items():
        param = takers[0][0]
        kind: Any = list[str] if param.cli_type is list else param.cli_type
        said = "; ".join(f"{policy.title}: {p.help}" for p, policy in takers)
        names = [param.option]
        if param.cli_type is bool:  # a flag pair: --require-labels/--no-require-labels
            names = [f"{param.option}/--no-{param.option[2:]}"]
        if param.cli_type is int:  # huge or fractional counts are usage errors
            default = int_option(None, *names, low=0, high=10**9, help=f"{said}.")
        elif param.cli_type is float:  # so are nan and inf
            default = float_option(None, *names, help=f"{said}.")
        else:
            default = typer.Option(None, *names, help=f"{said}.")
        kept.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind | None
            )
        )
    command.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    return command


def _params(options: dict[str, Any], kind: str) -> dict[str, Any]:
    """The policy parameters given on the command line, read as policy ``kind`` says (a
    parameter it does not take is read as the first taker says, and refused by its check)."""
    out: dict[str, Any] = {}
    for name, takers in _policy_params().items():
        param = next((p for p, policy in takers if policy.name == kind), takers[0][0])
        value = options.get(name)
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        out[name] = param.parse(list(value) if isinstance(value, tuple) else value) if (
            param.parse is not None
        ) else value  # fmt: skip
    return out


@app.command("create")
@_with_policy_options
@handle_errors
def create_cmd(
    name: str = typer.Argument(..., help="Deployment name."),
    route: list[str] = typer.Option(..., "--route", help="ROUTE=MODEL@VERSION (repeat)."),
    policy: str = typer.Option("fixed", "--policy", "-p", help=_policy_help()),
    description: str = typer.Option(None, "--description"),
    reason: str = REASON,
    as_json: bool = JSON,
    **options: Any,
) -> None:
    """Create a deployment: routes to model versions and a traffic policy (its options:
    each policy's parameters)."""
    from shipyard.serving import deployments

    made = deployments.create(
        name,
        _pairs(route, "--route"),
        policy=policy,
        description=description,
        reason=reason,
        **_params(options, policy),
    )
    _show(made, as_json)


@app.command("list")
@handle_errors
def list_cmd(as_json: bool = JSON) -> None:
    """List deployments with their policy and split."""
    from shipyard.serving import deployments

    found = deployments.list_deployments() if get_settings().store_exists() else []
    if as_json:
        print_json([deployments.as_dict(d) for d in found])
        return
    if not found:
        console.print(empty_store_message("deployments"))
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
@_with_policy_options
@handle_errors
def set_policy_cmd(
    name: str = typer.Argument(...),
    policy: str = typer.Argument(..., help=_policy_help()),
    reason: str = REASON,
    as_json: bool = JSON,
    **options: Any,
) -> None:
    """Change the traffic policy (running servers follow within their poll interval)."""
    from shipyard.serving import deployments

    _show(deployments.set_policy(name, policy, reason=reason, **_params(options, policy)), as_json)


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


def _show(d: Any, as_json: bool, history: bool = False) -> None:
    from shipyard.serving import deployments

    events = deployments.history(d.name, limit=20) if history else []
    if as_json:
        data = deployments.as_dict(d, details=history)
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
    if history:
        found = deployments.ab_statistics(d.name)
        if found.get("routes"):
            console.print(statistics_table(found))
    decided = next((e for e in events if _why(e.detail)), None)
    if decided is not None:
        console.print(f"Last decision ({decided.kind}, {when(decided.at)}): {_why(decided.detail)}")
    if events:
        rows = [
            [when(e.at), e.kind, e.actor or "", e.reason or _why(e.detail), _change(e.detail)]
            for e in events
        ]
        console.print(table("History", ["when", "what", "who", "why", "split"], rows))


def _why(detail: dict[str, Any]) -> str:
    """The reason an automatic decision gave (its evidence's ``why``), or ''."""
    evidence = detail.get("evidence")
    return str(evidence.get("why") or "") if isinstance(evidence, dict) else ""


def statistics_table(found: dict[str, Any], title: str | None = None) -> Any:
    """A policy's A/B statistics (``RolloutPolicy.statistics``) as a Rich table: per
    route n, the metric with its interval, the difference to the baseline with its
    interval, the always-valid p-value and whether it is significant."""
    better = "higher" if found.get("higher_is_better", True) else "lower"
    heading = title or f"{found.get('metric', 'metric')} ({better} is better)"
    rows = []
    for row in found.get("routes", []):
        is_base = row["route"] == found.get("baseline")
        rows.append(
            [
                row["route"] + (" (baseline)" if is_base else ""),
                str(row.get("n", 0)),
                _value(row.get("estimate"), row.get("interval")),
                "" if is_base else _value(row.get("difference"), row.get("difference_interval")),
                "" if row.get("p_value") is None else f"{row['p_value']:.3g}",
                "" if is_base else ("yes" if row.get("significant") else "no"),
            ]
        )
    out = table(heading, ["route", "n", "metric", "difference", "p-value", "significant"], rows)
    if found.get("winner"):
        out.caption = f"winner: {found['winner']}"
    return out


def _value(estimate: float | None, interval: list[Any] | None) -> str:
    """``0.9 [0.85, 0.94]``; ``-`` when there is no estimate yet."""
    if estimate is None:
        return "-"
    low, high = (interval or [None, None])[:2]
    bounds = ", ".join("?" if x is None else f"{x:.4g}" for x in (low, high))
    return f"{estimate:.4g} [{bounds}]"


def _change(detail: dict[str, Any]) -> str:
    moved = detail.get("after")  # a route's event holds the reference it moved to
    after = (moved.get("split") if isinstance(moved, dict) else None) or detail.get("split")
    if not after:
        return ""
    return ", ".join(f"{k} {v:g}%" for k, v in after.items())

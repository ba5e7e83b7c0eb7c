"""``shipyard models policy set|show|history``, ``shipyard models check`` and ``shipyard
models approve``: promotion policies and gates (attached to the ``models`` group)."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard import models
from shipyard.cli._common import console, handle_errors, print_json, table, when

__all__ = ["attach"]

JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
policy_app = typer.Typer(
    help="Promotion policies: the gates a version passes to take a protected alias or stage.",
    no_args_is_help=True,
)


def _show(found: models.PolicyVersion, as_json: bool) -> None:
    if as_json:
        print_json(found.to_dict())
        return
    who = f"by {found.created_by or '-'} at {when(found.created_at)}"
    console.print(f"{found.model} policy version {found.version} ({who})")
    typer.echo(found.source if found.source else found.policy.to_yaml(), nl=False)


@policy_app.command("set")
@handle_errors
def set_cmd(
    name: str = typer.Argument(..., help="Model name."),
    file: Path = typer.Argument(..., help="The policy, a YAML file (see docs)."),
    as_json: bool = JSON,
) -> None:
    """Store a policy file as the model's next policy version (in force from now on)."""
    if file.suffix not in (".yaml", ".yml"):
        raise typer.BadParameter(f"expected a .yaml or .yml file, got {str(file)!r}")
    _show(models.set_policy(name, file), as_json)


@policy_app.command("show")
@handle_errors
def show_cmd(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Option(None, "--version", min=1, help="A past policy version."),
    as_json: bool = JSON,
) -> None:
    """The policy in force (or an earlier version)."""
    found = models.policy(name, version)
    if found is None:
        if as_json:
            print_json(None)
            return
        console.print(f"{name} has no policy: nothing guards its aliases and stages.")
        return
    _show(found, as_json)


@policy_app.command("history")
@handle_errors
def history_cmd(name: str = typer.Argument(..., help="Model name."), as_json: bool = JSON) -> None:
    """Every policy version, newest first."""
    found = models.policies(name)
    if as_json:
        print_json([p.to_dict() for p in found])
        return
    rows = [
        [p.version, when(p.created_at), p.created_by or "-", ", ".join(p.policy.protect),
         ", ".join(p.policy.gates) or "-"]
        for p in found
    ]  # fmt: skip
    console.print(table(f"{name} policies", ["version", "when", "who", "protects", "gates"], rows))


def check_cmd(
    ref: str = typer.Argument(..., help="The version, e.g. churn@7."),
    to: str = typer.Option(None, "--to", help="The alias or stage it would move to."),
    as_json: bool = JSON,
) -> None:
    """Check a version against its model's policy (exit 1 when a gate fails)."""
    report = models.check(ref, to)
    if as_json:
        print_json(report.to_dict())
    else:
        rows = [
            ["[green]passed[/]" if r.passed else "[red]failed[/]", r.name, r.detail]
            for r in report.results
        ]
        if rows:
            console.print(table(None, ["", "gate", "detail"], rows, 2))
        console.print(report.summary())
    if not report.passed:
        raise typer.Exit(1)


def approve_cmd(
    ref: str = typer.Argument(..., help="The version, e.g. churn@7."),
    comment: str = typer.Option(None, "--comment", help="Why it may go (kept with it)."),
    for_: str = typer.Option(None, "--for", help="Only for this alias or stage."),
    as_json: bool = JSON,
) -> None:
    """Approve a version (the approval gate counts your role)."""
    found = models.approve(ref, comment=comment, for_=for_)
    if as_json:
        print_json(found.to_dict())
        return
    role = found.data.get("role")
    console.print(f"{found.model}@{found.version} approved by {found.created_by} ({role})")


def attach(app: typer.Typer) -> None:
    """Add ``policy``, ``check`` and ``approve`` to the ``models`` group."""
    app.add_typer(policy_app, name="policy")
    app.command("check")(handle_errors(check_cmd))
    app.command("approve")(handle_errors(approve_cmd))

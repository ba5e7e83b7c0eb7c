"""``shipyard models``: list, inspect, promote, roll back, alias, export, compare, delete."""

from __future__ import annotations

from typing import Any

import typer

from shipyard import models
from shipyard.cli import _policies
from shipyard.cli._common import (
    console,
    float_option,
    handle_errors,
    number,
    print_json,
    table,
    when,
)
from shipyard.config import empty_store_message, get_settings
from shipyard.errors import InvalidInput

app = typer.Typer(
    help="Model registry: versions, aliases, stages, rollback, ONNX export.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
REASON = typer.Option(None, "--reason", "-r", help="Why (recorded in the history).")
FORCE = typer.Option(False, "--force", help="Override failed gates (needs --reason).")
STAGE_STYLE = {"production": "green", "staging": "cyan", "archived": "dim", "none": "white"}


def _version_json(v: models.ModelVersion) -> dict[str, Any]:
    return {
        "ref": v.ref,
        "id": v.id,
        "flavor": v.flavor,
        "stage": v.stage,
        "aliases": list(v.aliases),
        "size": v.size,
        "digest": v.digest,
        "created_at": v.created_at,
        "created_by": v.created_by,
        "run_id": v.run_id,
        "source_commit": v.source_commit,
        "datasets": list(v.datasets),
        "metrics": v.metrics,
        "tags": v.tags,
        "description": v.description,
        "signature": None if v.signature is None else v.signature.to_dict(),
        "environment": v.environment,
        "format": v.flavor_meta.get("format"),
        "exports": {
            f: {"size": e.size, "digest": e.digest, "report": e.report}
            for f, e in v.exports.items()
        },
    }


def _stage(stage: str) -> str:
    return f"[{STAGE_STYLE.get(stage, 'white')}]{stage}[/]"


@app.command("list")
@handle_errors
def list_cmd(as_json: bool = JSON) -> None:
    """List models with their latest and production versions and aliases."""
    found = models.list_models() if get_settings().store_exists() else []
    if as_json:
        print_json([m.__dict__ for m in found])
        return
    if not found:
        console.print(empty_store_message("models"))
        return
    rows = [
        [
            m.name,
            m.versions,
            m.latest or "-",
            m.production or "-",
            ", ".join(f"{a}→{v}" for a, v in m.aliases.items()) or "-",
            when(m.created_at),
        ]
        for m in found
    ]
    console.print(
        table("Models", ["name", "versions", "latest", "production", "aliases", "created"], rows, 1)
    )


@app.command("versions")
@handle_errors
def versions_cmd(name: str = typer.Argument(..., help="Model name."), as_json: bool = JSON) -> None:
    """List a model's versions, newest first."""
    found = models.versions(name)
    if as_json:
        print_json([_version_json(v) for v in found])
        return
    rows = [
        [
            v.version,
            _stage(v.stage),
            ", ".join(v.aliases) or "-",
            v.flavor,
            ", ".join(v.exports) or "-",
            ", ".join(f"{k}={number(m, 4)}" for k, m in sorted(v.metrics.items())[:3]) or "-",
            when(v.created_at),
        ]
        for v in found
    ]
    console.print(
        table(
            f"Versions of {name}",
            ["version", "stage", "aliases", "flavor", "exports", "metrics", "created"],
            rows,
            1,
        )
    )


@app.command("show")
@handle_errors
def show_cmd(
    ref: str = typer.Argument(..., help="churn@3, churn@champion, churn@production or churn."),
    as_json: bool = JSON,
) -> None:
    """Show a version: flavor, stage, signature, lineage, environment, exports, history."""
    v = models.get(ref)
    events = [e for e in models.history(v.name) if e.version == v.version]
    if as_json:
        print_json({**_version_json(v), "history": [e.__dict__ for e in events]})
        return
    console.print(
        f"[bold]{v.ref}[/]  {v.flavor} ({v.flavor_meta.get('format')})  {_stage(v.stage)}"
    )
    lines = [
        ("aliases", ", ".join(v.aliases) or "-"),
        ("created", f"{when(v.created_at)} by {v.created_by or '?'}"),
        ("size", f"{v.size:,} bytes, sha256 {v.digest[:16]}"),
        ("run", v.run_id or "-"),
        ("code", v.source_commit or "-"),
        ("datasets", ", ".join(v.datasets) or "-"),
        ("description", v.description or "-"),
        ("tags", ", ".join(f"{k}={t}" for k, t in v.tags.items()) or "-"),
        ("metrics", ", ".join(f"{k}={number(m, 4)}" for k, m in sorted(v.metrics.items())) or "-"),
        ("python", v.environment.get("python", "-")),
        (
            "packages",
            ", ".join(f"{k}=={p}" for k, p in v.environment.get("packages", {}).items()) or "-",
        ),
    ]
    for key, value in lines:
        console.print(f"  {key:<12} {value}", soft_wrap=True)
    if v.signature is not None:
        sig = v.signature
        rows = [
            [c.name, c.type, "yes" if c.nullable else "no", ", ".join(c.categories or ()) or "-"]
            for c in sig.inputs
        ]
        title = f"Signature: {sig.task or 'task unknown'}"
        if sig.classes is not None:
            title += f", classes {list(sig.classes)}"
        console.print(table(title, ["input", "type", "nulls", "categories"], rows, 1))
    for fmt, export in v.exports.items():
        figures = ", ".join(f"{k}={number(x, 4)}" for k, x in export.report.items())
        console.print(f"  export {fmt}: {export.size:,} bytes; {figures}", soft_wrap=True)
    if events:
        rows = [
            [when(e.at), e.kind, e.before or "-", e.after or "-", e.actor or "-", e.reason or ""]
            for e in events
        ]
        console.print(table("History", ["when", "what", "from", "to", "who", "why"], rows, 1))


@app.command("promote")
@handle_errors
def promote_cmd(
    name: str = typer.Argument(..., help="Model name (or a full reference, churn@7)."),
    version: str = typer.Argument(None, help="Version number or alias (7, champion)."),
    to: str = typer.Option("production", "--to", help="staging, production, archived or none."),
    reason: str = REASON,
    force: bool = FORCE,
    as_json: bool = JSON,
) -> None:
    """Move a version to a stage (production archives the previous production version).
    A stage the model's policy protects needs its gates passed, or --force --reason."""
    v = models.promote(_ref(name, version), to=to, reason=reason, force=force)
    if as_json:
        print_json(_version_json(v))
        return
    console.print(f"{v.ref} is now in {_stage(v.stage)}")


@app.command("rollback")
@handle_errors
def rollback_cmd(
    name: str = typer.Argument(..., help="Model name."),
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Put the previous production version back in production."""
    before = next((m.production for m in models.list_models() if m.name == name), None)
    v = models.rollback(name, reason=reason)
    if as_json:
        print_json({**_version_json(v), "previous": before})
        return
    console.print(f"{name}: production {before if before is not None else '-'} → {v.version}")


@app.command("alias")
@handle_errors
def alias_cmd(
    name: str = typer.Argument(..., help="Model name (or a full reference, churn@7)."),
    alias: str = typer.Argument(..., help="Alias to set, e.g. champion."),
    version: str = typer.Argument(None, help="Version to point it at (7)."),
    remove: bool = typer.Option(False, "--remove", help="Remove the alias instead."),
    reason: str = REASON,
    force: bool = FORCE,
) -> None:
    """Point an alias at a version (``shipyard models alias churn champion 7``), or remove it."""
    if remove:
        models.remove_alias(name.partition("@")[0], alias, reason=reason)
        console.print(f"{name}@{alias} removed")
        return
    if version is None and "@" not in name:
        raise typer.BadParameter("give the version: shipyard models alias churn champion 7")
    v = models.set_alias(_ref(name, version), alias, reason=reason, force=force)
    console.print(f"{v.name}@{alias} → {v.version}")


@app.command("export")
@handle_errors
def export_cmd(
    ref: str = typer.Argument(..., help="Version to export, e.g. churn@7."),
    fmt: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    quantize: str = typer.Option(None, "--quantize", help="Also quantize: int8."),
    data: str = typer.Option(None, "--data", help="Dataset to check parity on (loans@3)."),
    target: str = typer.Option(None, "--target", help="Label column of --data."),
    atol: float = float_option(
        1e-4, "--atol", low=0, help="Largest accepted probability difference."
    ),
    tolerance: float = float_option(
        0.01, "--tolerance", low=0, help="Largest accepted metric drop when quantizing."
    ),
    as_json: bool = JSON,
) -> None:
    """Convert to ONNX, check parity with the native model, store it (refused if it differs)."""
    if target is not None and data is None:
        raise InvalidInput("--target names the label column of --data; give --data too.")
    with console.status(f"Exporting {ref} to {fmt}..."):
        v = models.export(
            ref, fmt, quantize=quantize, data=data, target=target, atol=atol, tolerance=tolerance
        )
    if as_json:
        print_json(_version_json(v))
        return
    for name in (fmt, f"{fmt}-{quantize}" if quantize else None):
        if name and name in v.exports:
            export = v.exports[name]
            console.print(f"[green]{v.ref} → {name}[/] ({export.size:,} bytes)")
            for key, value in export.report.items():
                console.print(f"  {key:<24} {number(value, 5)}")


@app.command("compare")
@handle_errors
def compare_cmd(
    refs: list[str] = typer.Argument(..., help="Two or more versions: churn@3 churn@7."),
    as_json: bool = JSON,
) -> None:
    """Compare versions side by side: metrics, params, stage, size, datasets."""
    frame = models.compare(refs)
    if as_json:
        print_json(frame.astype(object).where(frame.notna(), None).to_dict())
        return
    rows = [[key, *(number(x, 5) if x == x else "-" for x in row)] for key, row in frame.iterrows()]
    console.print(table("Comparison", ["", *frame.columns], rows, 1))


@app.command("delete")
@handle_errors
def delete_cmd(
    ref: str = typer.Argument(..., help="Version to delete (churn@3), or a model name with --all."),
    all_versions: bool = typer.Option(False, "--all", help="Delete the model and every version."),
    force: bool = typer.Option(False, "--force", help="Also if in production or aliased."),
    reason: str = REASON,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a version (its number is never reused), or a whole model with --all."""
    if all_versions:
        if not yes:
            typer.confirm(f"Delete model {ref!r} with every version and its history?", abort=True)
        count = models.delete_model(ref)
        console.print(f"Deleted model {ref} ({count} versions)")
        return
    v = models.delete(ref, force=force, reason=reason)
    console.print(f"Deleted {v.ref}")


def _ref(name: str, version: str | None) -> str:
    if version is None:
        return name
    if "@" in name:
        raise typer.BadParameter(f"give either {name!r} or a version, not both")
    return f"{name}@{version}"


_policies.attach(app)  # policy set|show|history, check, approve

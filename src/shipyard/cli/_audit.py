"""``shipyard audit``: the hash-chained log of every state change (list, verify, head)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from shipyard.cli._common import console, handle_errors, int_option, print_json, table, when

if TYPE_CHECKING:
    from shipyard.governance import AuditEntry

app = typer.Typer(help="The audit log: who changed what, when, from where; tamper-evident.")


@app.command("list")
@handle_errors
def list_cmd(
    model: str | None = typer.Option(None, "--model", help="Only this model's entries."),
    kind: str | None = typer.Option(
        None, "--kind", help="Only this kind (model, dataset, deployment, key, user...)."
    ),
    name: str | None = typer.Option(None, "--name", help="Only entries about this name."),
    version: int | None = int_option(None, "--version", help="Only this version."),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor (user:NAME...)."),
    limit: int = int_option(50, "--limit", high=10_000, help="At most this many entries."),
    after: int | None = int_option(
        None, "--after", high=2**63 - 1, help="Older than this seq (the next page)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List audit entries, newest first (--model NAME, or --kind K --name N)."""
    from shipyard.errors import InvalidInput
    from shipyard.governance import audit_log

    if model is not None:
        if kind not in (None, "model"):
            raise InvalidInput(f"--model: it means --kind model; got --kind {kind} too.")
        if name is not None:
            raise InvalidInput("--model: it names the model; drop --name.")
        kind, name = "model", model
    found = audit_log(kind, name, version, actor, limit=limit, after=after)
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    if not found:
        console.print("No audit entries match.")
        return
    console.print(table(None, ("seq", "at", "actor", "origin", "action", "target", "change"),
                        [_row(e) for e in found], no_wrap=2))  # fmt: skip
    if len(found) == limit:
        console.print(f"More: --after {found[-1].seq}")


def _row(entry: AuditEntry) -> list[Any]:
    change = _short(entry.before) + " -> " + _short(entry.after)
    if entry.reason:
        change += f" ({entry.reason})"
    return [entry.seq, when(entry.at), entry.actor or "-", entry.origin or "-",
            entry.action, entry.target, change]  # fmt: skip


def _short(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


@app.command("verify")
@handle_errors
def verify_cmd(
    head: str | None = typer.Option(
        None, "--head", help="A head hash kept elsewhere (shipyard audit head): must be in it."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Check every entry's hash and link; exit 1 naming the first broken entry."""
    from shipyard.governance import verify_audit

    report = verify_audit(head)
    if as_json:
        print_json(report.to_dict(), times=False)
    else:
        console.print(str(report), markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@app.command("head")
@handle_errors
def head_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the chain's head (last seq and hash): keep it elsewhere to check later."""
    from shipyard.governance import verify_audit

    report = verify_audit()
    if as_json:
        print_json({"seq": report.head_seq, "hash": report.head_hash, "ok": report.ok})
    else:
        typer.echo(f"{report.head_seq} {report.head_hash}")
    if not report.ok:
        console.print(str(report), markup=False, soft_wrap=True)
        raise typer.Exit(1)

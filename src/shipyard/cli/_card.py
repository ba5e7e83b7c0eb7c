"""``shipyard models card`` and ``card-set``: a version's model card as Markdown, HTML or
JSON, and its user-written sections (attached to the ``models`` group)."""

from __future__ import annotations

import typer

from shipyard import governance
from shipyard.cli._common import console, file_option, handle_errors, print_json
from shipyard.cli._models import app

__all__ = ["card_cmd", "card_set_cmd"]

_SECTION = "Text of the section ('' clears it); the others keep theirs."


@app.command("card")
@handle_errors
def card_cmd(
    ref: str = typer.Argument(..., help="Model version, e.g. churn@7 or churn@champion."),
    as_html: bool = typer.Option(False, "--html", help="A self-contained HTML page."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    output: str | None = file_option("--output", "-o", help="Write the card to this file."),
    to: str | None = typer.Option(
        None, "--to", help="Report the promotion gates of a move to this alias or stage."
    ),
    check: bool = typer.Option(
        True, "--check/--no-check", help="Check the policy's gates (may score on a dataset)."
    ),
) -> None:
    """Print a version's model card (Markdown), or write it with --output."""
    if as_html and as_json:
        raise typer.BadParameter("give --html or --json, not both.")
    found = governance.card(ref, to=to, check=check)
    if as_json and output is None:
        print_json(found.to_dict())
        return
    if as_json:
        import json

        text = json.dumps(found.to_dict(), indent=2)
    else:
        text = found.html() if as_html else found.markdown()
    if output is None:
        typer.echo(text, nl=False)
        return
    from pathlib import Path

    Path(output).write_text(text, encoding="utf-8")
    state = "complete" if found.complete else "missing " + ", ".join(found.missing)
    console.print(f"Wrote the card of {found.ref} to {output} ({state}).")


@app.command("card-set")
@handle_errors
def card_set_cmd(
    ref: str = typer.Argument(..., help="Model version, e.g. churn@7."),
    intended_use: str | None = typer.Option(None, "--intended-use", help=_SECTION),
    limitations: str | None = typer.Option(None, "--limitations", help=_SECTION),
    ethical: str | None = typer.Option(None, "--ethical-considerations", help=_SECTION),
    owners: str | None = typer.Option(None, "--owners", help=_SECTION),
) -> None:
    """Write the user-written sections of a version's model card."""
    governance.set_card(
        ref,
        intended_use=intended_use,
        limitations=limitations,
        ethical_considerations=ethical,
        owners=owners,
    )
    found = governance.card(ref, check=False)
    state = "complete" if found.complete else "still missing " + ", ".join(found.missing)
    console.print(f"Card of {found.ref} saved: {state}.")

"""``shipyard gc``: remove what killed processes and deleted versions left behind."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from shipyard.cli._common import console, handle_errors, print_json
from shipyard.cli._db import local_only
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.store import Collection

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_AGE = 100 * 365.25 * 86400.0


@handle_errors
def gc_cmd(
    yes: bool = typer.Option(False, "--yes", help="Remove what is found (else only list it)."),
    older_than: str = typer.Option(
        "1h", "--older-than", help="Grace period: only files older than this (e.g. 30m, 1h, 2d)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find leftover temporary files and unreferenced blobs (--yes removes them).

    Only files older than --older-than go: temporary files killed processes left, and blobs
    no run, dataset, model or pipeline references any more (deleted versions' content)."""
    from shipyard.store import ArtifactStore, collect_garbage, default_database

    settings = local_only("shipyard gc")
    found = collect_garbage(
        default_database(),
        ArtifactStore(settings.artifacts_url),
        [settings.home / "tmp"],
        older_than=parse_age(older_than),
        apply=yes,
    )
    if as_json:
        print_json(found.to_dict())
        return
    _show(found)


def parse_age(value: str) -> float:
    """Seconds in ``90s``, ``30m``, ``1h``, ``2d`` (or a bare number of seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
    if match is None:
        raise InvalidInput(
            f"--older-than {value!r} is not a duration; expected a number with s, m, h or d "
            "(e.g. 1h)."
        )
    age = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if age > MAX_AGE:
        raise InvalidInput(f"--older-than {value!r} is more than 100 years; give a shorter age.")
    return age


def _show(found: Collection) -> None:
    table = Table(title="Removed" if found.applied else "Would remove (dry run)")
    for column in ("kind", "files", "size"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    shown = found.removed if found.applied else found.found
    for kind in ("temporary", "blob", "mark"):
        items = [g for g in shown if g.kind == kind]
        if items:
            table.add_row(kind, str(len(items)), _size(sum(g.size for g in items)))
    if shown:
        console.print(table)
    kept = f"kept {found.referenced} referenced blobs and {found.recent} recent unreferenced ones"
    if found.applied:
        console.print(f"Freed {_size(found.freed)} in {len(found.removed)} files; {kept}.")
    elif shown:
        console.print(
            f"{_size(found.reclaimable)} in {len(shown)} files can be freed; {kept}. "
            "Run again with --yes to remove them."
        )
    else:
        console.print(f"Nothing to remove; {kept}.")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"

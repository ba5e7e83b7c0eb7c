"""``shipyard db``: the metadata store's schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from shipyard.cli._common import console, handle_errors, print_json
from shipyard.config import get_settings
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.config import Settings

app = typer.Typer(help="The metadata store: schema migrations.", no_args_is_help=True)


@app.command("upgrade")
@handle_errors
def upgrade_cmd() -> None:
    """Apply pending schema migrations to the configured store (safe to repeat)."""
    from shipyard.store import Database, upgrade

    settings = local_only("shipyard db upgrade")
    db = Database(settings.db_url, migrate=False)
    try:
        state = upgrade(db.engine, settings.db_url)
    finally:
        db.dispose()
    if state.before == state.after:
        console.print(f"Store {settings.db_url} is up to date (schema {state.after}).")
    else:
        console.print(
            f"Store {settings.db_url} upgraded: schema {state.before or 'empty'} -> {state.after}."
        )


@app.command("current")
@handle_errors
def current_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the store's URL and schema revision, and the newest this code knows."""
    from shipyard.store import HEAD_REVISION, Database, current_revision

    settings = local_only("shipyard db current")
    db = Database(settings.db_url, migrate=False)
    try:
        with db.engine.connect() as conn:
            revision = current_revision(conn)
    finally:
        db.dispose()
    data = {
        "url": settings.db_url,
        "artifacts": settings.artifacts_url,
        "revision": revision,
        "head": HEAD_REVISION,
    }
    if as_json:
        print_json(data)
        return
    state = "up to date" if revision == HEAD_REVISION else "needs: shipyard db upgrade"
    console.print(
        f"metadata:  {settings.db_url}\nartifacts: {settings.artifacts_url}\n"
        f"schema:    {revision or 'empty'} (code knows {HEAD_REVISION}; {state})"
    )


def local_only(command: str) -> Settings:
    """The settings, when the store is local; a command that works on the local store
    itself refuses remote mode in one line naming SHIPYARD_URL."""
    settings = get_settings()
    if settings.remote:
        raise InvalidInput(
            f"{command} works on a local store, but SHIPYARD_URL={settings.url} names a "
            "platform server: run it where the server runs, or unset SHIPYARD_URL."
        )
    return settings

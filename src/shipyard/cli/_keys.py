"""``shipyard keys``: API keys for the inference server (create, list, revoke)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from shipyard.cli._common import console, float_option, handle_errors, print_json, table, when

if TYPE_CHECKING:
    from shipyard.store import RemoteClient

app = typer.Typer(help="API keys for shipyard serve --auth: scopes and rate limits.")


@app.command("create")
@handle_errors
def create_cmd(
    name: str = typer.Argument(..., help="A name to tell the key by."),
    scope: list[str] = typer.Option(
        ["predict"], "--scope", "-s", help="predict, feedback or admin (repeat)."
    ),
    rate: float = float_option(
        None, "--rate", low=0, above=True, help="Requests per second allowed (default: any)."
    ),
) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    from shipyard.serving import create_key

    if _remote():  # the platform server's keys (admin role)
        body = {"name": name, "scopes": scope, "rate_limit": rate}
        key = _client().post("/api/keys", body)["key"]
    else:
        key = create_key(name, scope, rate)
    console.print(f"Key {name} ({', '.join(scope)}): store it now, it is not shown again.")
    typer.echo(key)


@app.command("list")
@handle_errors
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List keys (names, prefixes, scopes, limits; never the keys)."""
    from shipyard._time import epoch
    from shipyard.serving import ApiKey, list_keys

    if _remote():
        keys = [
            ApiKey(**{**k, "scopes": tuple(k["scopes"]), "created_at": epoch(k["created_at"]),
                      "revoked_at": epoch(k["revoked_at"])})
            for k in _client().pages("/api/keys")
        ]  # fmt: skip
    else:
        keys = list_keys()
    if as_json:
        print_json([k.__dict__ for k in keys])
        return
    rows = [
        [
            k.name,
            f"sy_{k.prefix}_…",
            ",".join(k.scopes),
            "-" if k.rate_limit is None else f"{k.rate_limit:g}/s",
            when(k.created_at),
            "revoked " + when(k.revoked_at) if k.revoked_at else "active",
        ]
        for k in keys
    ]
    console.print(table("API keys", ["name", "key", "scopes", "rate", "created", "state"], rows))


@app.command("revoke")
@handle_errors
def revoke_cmd(name: str = typer.Argument(...)) -> None:
    """Revoke a key (servers refuse it within their poll interval)."""
    from shipyard.serving import revoke_key

    if _remote():
        from urllib.parse import quote

        _client().delete(f"/api/keys/{quote(name, safe='')}")
    else:
        revoke_key(name)
    console.print(f"Revoked key {name}.")


def _remote() -> bool:
    from shipyard.config import get_settings

    return get_settings().remote


def _client() -> RemoteClient:
    from shipyard.store import remote_client

    return remote_client()

"""``shipyard keys``: API keys for the inference server (create, list, revoke)."""

from __future__ import annotations

import typer

from shipyard.cli._common import console, float_option, handle_errors, print_json, table, when

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

    key = create_key(name, scope, rate)
    console.print(f"Key {name} ({', '.join(scope)}): store it now, it is not shown again.")
    typer.echo(key)


@app.command("list")
@handle_errors
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List keys (names, prefixes, scopes, limits; never the keys)."""
    from shipyard.serving import list_keys

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

    revoke_key(name)
    console.print(f"Revoked key {name}.")

"""``shipyard users`` and ``shipyard tokens``: who may use the platform server, with which
role, and their tokens (the local store, or the server's routes with SHIPYARD_URL)."""

from __future__ import annotations

import re

import typer

from shipyard.cli._common import console, handle_errors, print_json, table, when
from shipyard.config import get_settings

users = typer.Typer(help="Users of shipyard server: roles viewer, editor, admin.")
tokens = typer.Typer(help="Users' tokens for shipyard server (shown once, stored hashed).")

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _duration(value: str) -> float:
    """Seconds in ``90s``, ``30m``, ``12h``, ``30d``: above 0, at most 100 years."""
    from shipyard.errors import InvalidInput

    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    seconds = float(found.group(1)) * _UNITS[found.group(2)] if found else 0.0
    if not 0 < seconds <= 100 * 365.25 * 86400:
        raise InvalidInput(
            f"--expires {value!r}: expected a duration above 0 and up to 100 years, a number "
            "with s, m, h or d (e.g. 30d)."
        )
    return seconds


@users.command("create")
@handle_errors
def create_cmd(
    name: str = typer.Argument(..., help="The user's name."),
    role: str = typer.Option("viewer", "--role", "-r", help="viewer, editor or admin."),
) -> None:
    """Create a user (then: shipyard tokens create NAME)."""
    from shipyard import server

    made = server.create_user(name, role)
    console.print(f"Created user {made.name} ({made.role}). Next: shipyard tokens create {name}")


@users.command("list")
@handle_errors
def list_cmd(as_json: bool = JSON_OPTION) -> None:
    """List users: name, role, state."""
    from shipyard import server

    found = server.list_users() if get_settings().store_exists() else []
    if as_json:
        print_json([u.__dict__ for u in found])
        return
    if not found:
        console.print(f"No users in {get_settings().where()}. Try: shipyard users create NAME")
        return
    rows = [
        [
            u.name,
            u.role,
            "disabled" if u.disabled else "active",
            when(u.created_at),
            u.created_by or "-",
        ]
        for u in found
    ]
    console.print(table("Users", ["name", "role", "state", "created", "by"], rows))


@users.command("role")
@handle_errors
def role_cmd(
    name: str = typer.Argument(...),
    role: str = typer.Argument(..., help="viewer, editor or admin."),
) -> None:
    """Give a user another role (takes effect within a second)."""
    from shipyard import server

    changed = server.set_role(name, role)
    console.print(f"User {changed.name} is now {changed.role}.")


@users.command("disable")
@handle_errors
def disable_cmd(
    name: str = typer.Argument(...),
    enable: bool = typer.Option(False, "--enable", help="Let the user sign in again."),
) -> None:
    """Disable a user: their tokens are refused within a second (--enable undoes it)."""
    from shipyard import server

    changed = server.disable_user(name, disabled=not enable)
    console.print(f"User {changed.name} is {'disabled' if changed.disabled else 'enabled'}.")


@tokens.command("create")
@handle_errors
def token_create_cmd(
    user: str = typer.Argument(..., help="Whose token."),
    name: str = typer.Option("token", "--name", "-n", help="What it is for (laptop, ci...)."),
    expires: str = typer.Option(
        None, "--expires", help="Valid for this long (e.g. 12h, 30d; default: until revoked)."
    ),
) -> None:
    """Create a token; it is printed once and only its hash is stored."""
    from shipyard import server

    seconds = None if expires is None else _duration(expires)
    token = server.create_token(user, name, expires_in=seconds)
    console.print(f"Token {name} of {user}: store it now, it is not shown again.")
    typer.echo(token)


@tokens.command("list")
@handle_errors
def token_list_cmd(
    user: str = typer.Option(None, "--user", "-u", help="Only this user's."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List tokens (prefixes, users, times; never the tokens)."""
    from shipyard import server

    found = server.list_tokens(user) if get_settings().store_exists() or user else []
    if as_json:
        print_json([{**t.__dict__, "state": t.state} for t in found])
        return
    if not found:
        console.print(f"No tokens in {get_settings().where()}. Try: shipyard tokens create USER")
        return
    rows = [
        [
            f"syt_{t.prefix}_…",
            t.user,
            t.name,
            t.state,
            when(t.created_at),
            when(t.last_used_at),
            when(t.expires_at),
        ]
        for t in found
    ]
    heads = ["token", "user", "name", "state", "created", "last used", "expires"]
    console.print(table("Tokens", heads, rows))


@tokens.command("revoke")
@handle_errors
def token_revoke_cmd(
    prefix: str = typer.Argument(..., help="The token's prefix (as listed), or the token."),
) -> None:
    """Revoke a token: the server refuses it within a second."""
    from shipyard import server

    revoked = server.revoke_token(prefix)
    console.print(f"Revoked token syt_{revoked.prefix}_… ({revoked.name}) of {revoked.user}.")

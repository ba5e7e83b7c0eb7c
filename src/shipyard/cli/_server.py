"""``shipyard server``: the platform server (the web UI, the REST API, users and tokens)."""

from __future__ import annotations

import typer

from shipyard.cli._common import ALLOW_HOST, ALLOW_ORIGIN, INSECURE, console, handle_errors


@handle_errors
def server_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8700, "--port", "-p"),
    auth: bool | None = typer.Option(
        None,
        "--auth/--no-auth",
        help="Require users' tokens (default: on unless the address is loopback).",
        show_default=False,
    ),
    insecure: bool = INSECURE,
    allow_host: list[str] = ALLOW_HOST,
    allow_origin: list[str] = ALLOW_ORIGIN,
) -> None:
    """Serve the web UI at /, the REST API at /api and its OpenAPI at /docs."""
    from shipyard import server
    from shipyard.cli._db import local_only
    from shipyard.server._app import check_exposure
    from shipyard.serving._guard import is_loopback
    from shipyard.serving._startup import bind, check_address, flag

    # it serves this host's stores: in remote mode it would pass the caller's token on to
    # whoever reaches it
    local_only("shipyard server")
    # refused before the banner, in one line: a bad address, auth off beyond this machine,
    # a port in use (bound here the way uvicorn binds it, then left to uvicorn)
    check_address(host, port, name_of=flag)
    auth = not is_loopback(host) if auth is None else auth
    check_exposure(host, auth=auth, insecure=insecure)
    bind(host, port, name_of=flag).close()

    where = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    console.print(
        f"Platform server on {where}: the UI at /, the API at /api, OpenAPI at /docs "
        f"({'auth on: sign in at /login' if auth else 'auth off'}). Ctrl-C stops."
    )
    server.run(
        host,
        port,
        auth=auth,
        insecure=insecure,
        allow_hosts=allow_host,
        allow_origins=allow_origin,
    )

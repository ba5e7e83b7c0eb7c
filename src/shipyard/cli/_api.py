"""``shipyard api``: the platform REST API (monitors and alerts) over HTTP."""

from __future__ import annotations

import typer

from shipyard.cli._common import ALLOW_HOST, ALLOW_ORIGIN, INSECURE, console, handle_errors


@handle_errors
def api_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", "-p"),
    auth: bool = typer.Option(
        False, "--auth", help="Require API keys (reads: any key; changes: the admin scope)."
    ),
    insecure: bool = INSECURE,
    allow_host: list[str] = ALLOW_HOST,
    allow_origin: list[str] = ALLOW_ORIGIN,
) -> None:
    """Serve the platform REST API: deployments, monitors and alerts (OpenAPI at /docs)."""
    from shipyard import server
    from shipyard.serving._guard import exposure
    from shipyard.serving._startup import bind, check_address, flag

    # refused before the banner, in one line: a bad address, keys off beyond this machine,
    # a port in use (bound here the way uvicorn binds it, then left to uvicorn)
    check_address(host, port, name_of=flag)
    exposure(host, auth=auth, insecure=insecure)
    bind(host, port, name_of=flag).close()

    console.print(
        f"Platform API on http://{host}:{port}/api (GET /api/deployments, /api/monitors, "
        f"/api/alerts; "
        f"OpenAPI at /docs{', off with --auth' if auth else ''}). Ctrl-C stops."
    )
    server.run(
        host,
        port,
        auth=auth,
        insecure=insecure,
        allow_hosts=allow_host,
        allow_origins=allow_origin,
    )

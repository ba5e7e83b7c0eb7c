"""Running the server: uvicorn, one process or ``workers`` processes.

:func:`serve` says ``Serving ...`` only once it can: every option is checked, the address
is bound and every version it serves is loaded and warmed (``_startup``); any failure is
one :class:`~shipyard.errors.ShipyardError` and nothing was started. One worker serves
from this process, on the socket bound by that check; several run under a supervisor in a
fresh interpreter (``_workers``), so the caller's script is never imported again; they
load the pickled versions this process trusted (that exact version and artifact), and a
worker that cannot start stops them all with one line saying why.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from shipyard import models
from shipyard.errors import ShipyardError
from shipyard.serving._app import create_app
from shipyard.serving._guard import exposure
from shipyard.serving._startup import (
    NameOf,
    bind,
    check_loadable_by_workers,
    check_options,
    load_served,
    python_name,
)
from shipyard.serving._workers import ACCESS_ENV, configure_logs, run_workers

__all__ = ["ServeOptions", "background", "serve", "start"]


def serve(
    model: str | None = None,
    *,
    deployment: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    format: str = "auto",
    max_batch: int = 64,
    max_wait: float = 0.0,
    poll: float = 2.0,
    log_sample: float = 1.0,
    log_dir: str | None = None,
    auth: bool = False,
    max_inflight: int = 1024,
    access_log: bool = False,
    log_level: str = "warning",
    max_rows: int = 100_000,
    insecure: bool = False,
    allow_hosts: Sequence[str] = (),
    allow_origins: Sequence[str] = (),
) -> None:
    """Serve ``model`` (``churn@champion``) or ``deployment`` until interrupted (see
    :func:`create_app` for the settings).

    Before printing ``Serving ...`` on stdout it checks every option (InvalidInput naming
    it), binds ``host:port`` (Conflict when the port is in use) and resolves, loads and
    warms every version served (NotFound for a reference that names nothing; a version that
    fails to load is refused, naming it): a failure raises and nothing was started.
    Without ``auth`` it refuses an address other than loopback unless ``insecure``, and
    warns on stderr that keys are off. With ``workers`` > 1 the worker processes never
    import the caller's ``__main__``: a script calling ``serve`` at its top level is not
    run again in them (so a pickle of a class defined in that script is refused, saying
    so); they load the pickled versions this process trusted, and one that cannot start
    stops the server (ShipyardError with its first error line)."""
    options = ServeOptions(
        model, deployment, host, port, workers, format, max_batch, max_wait, poll,
        log_sample, log_dir, auth, max_inflight, access_log, log_level, max_rows, insecure,
        tuple(allow_hosts), tuple(allow_origins),
    )  # fmt: skip
    start(options)


@dataclass(frozen=True)
class ServeOptions:
    """What :func:`serve` takes, as one value (the CLI builds one)."""

    model: str | None = None
    deployment: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    format: str = "auto"
    max_batch: int = 64
    max_wait: float = 0.0
    poll: float = 2.0
    log_sample: float = 1.0
    log_dir: str | None = None
    auth: bool = False
    max_inflight: int = 1024
    access_log: bool = False
    log_level: str = "warning"
    max_rows: int = 100_000
    insecure: bool = False
    allow_hosts: tuple[str, ...] = field(default=())
    allow_origins: tuple[str, ...] = field(default=())

    def app_settings(self) -> dict[str, Any]:
        """The arguments of ``create_app`` (JSON, for worker processes)."""
        return {
            "model": self.model,
            "deployment": self.deployment,
            "format": self.format,
            "max_batch": self.max_batch,
            "max_wait": self.max_wait,
            "poll": self.poll,
            "log_sample": self.log_sample,
            "log_dir": self.log_dir,
            "auth": self.auth,
            "max_inflight": self.max_inflight,
            "max_rows": self.max_rows,
            "allow_hosts": [self.host, *self.allow_hosts],
            "allow_origins": list(self.allow_origins),
        }


def start(options: ServeOptions, name_of: NameOf = python_name) -> None:
    """:func:`serve` with ``options``; errors name options as ``name_of`` spells them."""
    o = options
    warning = check_options(
        o.model, o.deployment, host=o.host, port=o.port, workers=o.workers, format=o.format,
        max_batch=o.max_batch, max_wait=o.max_wait, poll=o.poll, log_sample=o.log_sample,
        auth=o.auth, insecure=o.insecure, max_inflight=o.max_inflight, max_rows=o.max_rows,
        log_dir=o.log_dir, name_of=name_of,
    )  # fmt: skip
    sock = bind(o.host, o.port, name_of=name_of)  # held: nobody takes the port meanwhile
    try:
        served = load_served(o.model, o.deployment, format=o.format)
        check_loadable_by_workers(served, o.workers, name_of=name_of)
        # the workers trust exactly the versions this process trusted (and so loaded)
        trusted = [(v.id, v.digest) for v in served.versions if models.is_trusted(v)]
        if o.access_log:
            os.environ[ACCESS_ENV] = "1"  # worker processes read it too
        configure_logs()
        app = create_app(**o.app_settings()) if o.workers == 1 else None
    except BaseException:
        sock.close()
        raise
    name = o.deployment or str(o.model).split("@")[0]
    address = f"[{o.host.strip('[]')}]" if ":" in o.host else o.host
    banner = (
        f"Serving {served.description} on http://{address}:{o.port} with {o.workers} worker(s): "
        f"POST /predict or /v2/models/{name}/infer, metrics at /metrics. Ctrl-C stops."
    )

    def announce() -> None:
        if warning:
            print(warning, file=sys.stderr, flush=True)
        print(banner, flush=True)

    if app is not None:
        _serve_here(app, sock, o.log_level, announce)
        return
    models.clear_cache()  # the check's models: the workers load their own
    run_workers(
        o.app_settings(), sock=sock, workers=o.workers, log_level=o.log_level,
        trusted=trusted, on_ready=announce,
    )  # fmt: skip


def _serve_here(
    app: FastAPI, sock: socket.socket, log_level: str, announce: Callable[[], None]
) -> None:
    """Serve ``app`` from this process on the bound ``sock`` until interrupted."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    )
    try:
        sock.listen(server.config.backlog)  # connections wait from now, not refused
        announce()
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:  # uvicorn's way to say the app did not start
        if server.started:
            raise
        raise ShipyardError("The server did not start; see the messages above.") from exc
    finally:
        sock.close()


@contextlib.contextmanager
def background(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, insecure: bool = False
) -> Iterator[str]:
    """Serve ``app`` from a thread of this process while the block runs; yields its URL
    (``port=0`` picks a free port). For notebooks, scripts and the quick start. As
    ``shipyard serve``: an app without API keys on an address other than loopback is
    refused (InvalidInput, before binding) unless ``insecure``."""
    import uvicorn

    exposure(host, auth=bool(getattr(app.state, "auth", False)), insecure=insecure)

    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="shipyard-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("The server did not start; see the log above.")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)

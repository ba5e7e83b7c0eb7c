"""Running the server: uvicorn, one process or ``workers`` processes.

With several workers uvicorn imports the app in each process, so the settings travel in an
environment variable and :func:`app_from_env` builds the app there.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI

from shipyard.errors import InvalidInput
from shipyard.serving._app import create_app
from shipyard.serving._guard import exposure

__all__ = ["app_from_env", "background", "serve"]

ENV = "SHIPYARD_SERVE_CONFIG"
ACCESS_ENV = "SHIPYARD_ACCESS_LOG"
FORMATS = ("auto", "onnx", "native")


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
    """Serve ``model`` (``churn@champion``) or ``deployment`` until interrupted. See
    :func:`create_app`. Without ``auth`` it refuses an address other than loopback unless
    ``insecure`` (InvalidInput, before binding), and warns on stderr that keys are off."""
    import uvicorn

    settings = _settings(model, deployment, format, max_batch, max_wait, poll, log_sample)
    if max_inflight < 1:
        raise InvalidInput(f"max_inflight must be at least 1, got {max_inflight}.")
    if max_rows < 1:
        raise InvalidInput(f"max_rows must be at least 1, got {max_rows}.")
    warning = exposure(host, auth=auth, insecure=insecure)
    settings.update(
        log_dir=log_dir,
        auth=auth,
        max_inflight=max_inflight,
        max_rows=max_rows,
        allow_hosts=[host, *allow_hosts],
        allow_origins=list(allow_origins),
    )
    if access_log:
        os.environ[ACCESS_ENV] = "1"  # workers started by uvicorn read it too
    if workers < 1:
        raise InvalidInput(f"workers must be at least 1, got {workers}.")
    if not 0 < port < 65536:
        raise InvalidInput(f"port must be between 1 and 65535, got {port}.")
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
    }
    _configure_logs()
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if workers == 1:
        uvicorn.run(create_app(**settings), **common)
        return
    os.environ[ENV] = json.dumps(settings)
    uvicorn.run("shipyard.serving._run:app_from_env", factory=True, workers=workers, **common)


def app_from_env() -> FastAPI:
    """The app a worker process builds from the settings ``serve`` left in the environment."""
    _configure_logs()
    return create_app(**json.loads(os.environ[ENV]))


def _configure_logs() -> None:
    """Access lines (JSON, one per request) and the server's own messages on stderr."""
    import logging

    if os.environ.get(ACCESS_ENV) != "1":
        return
    access = logging.getLogger("shipyard.serving.access")
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False


def _settings(
    model: str | None,
    deployment: str | None,
    format: str,
    max_batch: int,
    max_wait: float,
    poll: float,
    log_sample: float,
) -> dict[str, Any]:
    if (model is None) == (deployment is None):
        raise InvalidInput("Serve exactly one of a model reference or --deployment NAME.")
    if not 0 <= log_sample <= 1:
        raise InvalidInput(f"log_sample must be between 0 and 1, got {log_sample}.")
    if format not in FORMATS:
        raise InvalidInput(f"format must be one of {FORMATS}; got {format!r}.")
    if max_batch < 1:
        raise InvalidInput(f"max_batch must be at least 1, got {max_batch}.")
    if not 0 <= max_wait <= 1:
        raise InvalidInput(f"max_wait must be between 0 and 1 second, got {max_wait}.")
    if poll < 0:
        raise InvalidInput(f"poll must be 0 (off) or a number of seconds, got {poll}.")
    return {
        "model": model,
        "deployment": deployment,
        "log_sample": log_sample,
        "format": format,
        "max_batch": max_batch,
        "max_wait": max_wait,
        "poll": poll,
    }


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

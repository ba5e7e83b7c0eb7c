"""The inference server app: FastAPI speaking the Open Inference Protocol v2 and plain JSON.

Bodies are read with orjson and answered with orjson; errors are ``{"error": "..."}`` as
the protocol says: 400 for a body that is not what the protocol describes, 422 for input
the model's signature refuses (the column named), 404 for another model or version (or an
unknown path), 405 for a wrong method, 503 while no model is ready. The app is thin: an
:class:`~shipyard.serving._service.InferenceService` does the work, the routes
(``_routes``) carry requests to it, and one handler (``_http``) answers every error.

It serves one model reference (``churn@champion``) or a named deployment (routes and a
policy); either way a router picks the route, and the service's watcher follows the store
(a moved alias or a changed deployment builds a new router whose models are loaded and
warmed before it replaces the old one; a canary's judge runs there too).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from fastapi import FastAPI

from shipyard._version import __version__
from shipyard.errors import InvalidInput
from shipyard.serving._guard import Guard
from shipyard.serving._http import install_error_handlers
from shipyard.serving._routes import install_routes
from shipyard.serving._service import InferenceService

__all__ = ["create_app"]


def create_app(
    model: str | None = None,
    *,
    deployment: str | None = None,
    format: str = "auto",
    max_batch: int = 64,
    max_wait: float = 0.0,
    poll: float = 2.0,
    log_sample: float = 1.0,
    log_dir: str | Path | None = None,
    auth: bool = False,
    max_inflight: int = 1024,
    max_body: int = 64 * 1024 * 1024,
    max_rows: int = 100_000,
    allow_hosts: Sequence[str] = (),
    allow_origins: Sequence[str] = (),
) -> FastAPI:
    """An app serving ``model`` (``churn@champion``, followed as the alias moves) or the
    named ``deployment`` (its routes and policy, followed as they change).

    ``format``: ``auto`` (int8 ONNX, then ONNX, then native), ``onnx`` or ``native``.
    ``max_batch``/``max_wait``: micro-batching (``max_batch=1`` turns it off).
    ``poll``: seconds between checks of the store (0: never). ``log_sample``: share of
    requests written to the inference log (0: none) under ``log_dir`` (default
    ``SHIPYARD_HOME/inference``, or ``<artifacts URL>/inference`` in object storage).
    ``auth``: every endpoint but health needs an API key with the endpoint's scope
    (``shipyard keys create``). ``max_inflight``: requests answered 503 at once beyond this
    many in flight, rather than queued without end. ``max_body``: bodies larger than this
    many bytes are answered 413; ``max_rows``: requests of more rows too.
    ``allow_hosts``/``allow_origins``: ``Host`` names and cross-origin origins
    accepted beyond the server's own (``_guard``: a wrong Host is 400, a change from
    another origin 403, a form or text body 415).
    """
    if max_rows < 1:
        raise InvalidInput(f"max_rows must be at least 1, got {max_rows}.")
    service = InferenceService.create(
        model,
        deployment=deployment,
        format=format,
        max_batch=max_batch,
        max_wait=max_wait,
        poll=poll,
        log_sample=log_sample,
        log_dir=log_dir,
        auth=auth,
        max_inflight=max_inflight,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="Shipyard model server",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None if auth else "/openapi.json",  # with auth, only health is open
    )
    app.state.server = service  # what tests and tools inspect (statistics, in-flight)
    app.state.auth = auth  # what ``background`` checks before binding
    install_error_handlers(app)
    install_routes(app, service, max_body, max_rows)
    app.add_middleware(Guard, hosts=allow_hosts, origins=allow_origins, untyped=_infer_path)
    return app


def _infer_path(path: str) -> bool:
    """The Open Inference Protocol's infer routes: they also take bodies with no
    Content-Type (tritonclient sends none) or binary tensors."""
    return path.startswith("/v2/models/") and path.endswith("/infer")

"""The model server's HTTP routes: each carries a request to the app's
:class:`~shipyard.serving._service.InferenceService` and its answer back.

Endpoints: ``/v2/health/live``, ``/v2/health/ready``, ``/v2``, ``/v2/models/{name}``
(``/versions/{v}``), ``.../ready``, ``.../infer``; ``POST /predict`` (``?explain=true``);
``POST /explain``; ``POST /feedback``;
``GET /metrics``. Errors raised here (a refused key, an unknown model) are answered by the
app's one error handler (``_http``); prediction errors are answered by the service itself,
which counts them. Every prediction answer carries ``X-Request-ID`` (the client's, or a
new one).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from starlette.routing import Route

from shipyard._version import __version__
from shipyard.errors import PayloadTooLarge
from shipyard.serving._explain import wants_explanation
from shipyard.serving._http import json_response
from shipyard.serving._oip_binary import HEADER, decode, render
from shipyard.serving._openapi import (
    ANY_ROUTE,
    CHANGES,
    KEYED,
    METRICS_TEXT,
    errors,
    request_id_header,
)
from shipyard.serving._protocol import (
    FEEDBACK_BODY,
    INFER_BODY,
    PREDICT_BODY,
    RequestBody,
    body_schema,
    check_rows,
    parse_json,
)
from shipyard.serving._service import InferenceService

__all__ = ["install_routes"]

BIG_BODY = 256 * 1024  # bytes: bodies this big are parsed in a thread, off the event loop

router = APIRouter()

# what each kind of route can answer besides its 200 (``_openapi``): a key check (``gate``)
# adds 401/403, the key's rate limit 429 and overload 503; the inference routes add the body
# checks (400, 413, 422) and the Content-Type/Origin checks of state-changing requests (403, 415)
_GATED = errors(*ANY_ROUTE, *KEYED, 429, 503)
_NAMED = errors(*ANY_ROUTE, *KEYED, 404, 429, 503)
_INFER = errors(*CHANGES, *KEYED, 404, 413, 422, 429, 503)
_PREDICT = errors(*CHANGES, *KEYED, 413, 422, 429, 503)
_FEEDBACK = errors(*CHANGES, *KEYED, 413, 422, 429, 503)


def _service(request: Request) -> InferenceService:
    service: InferenceService = request.app.state.service
    return service


class HttpBody(RequestBody):
    """A request's JSON body, refused (413) beyond ``limit`` bytes as it streams in, parsed
    in a thread beyond ``BIG_BODY`` bytes; a prediction's (``endpoint``) refused (413)
    beyond the app's ``max_rows`` rows as soon as it is parsed."""

    def __init__(self, request: Request, limit: int, endpoint: str | None = None) -> None:
        self.request = request
        self.limit = limit
        self.endpoint = endpoint

    async def load(self) -> Any:
        declared = self.request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise PayloadTooLarge(f"The body is larger than {self.limit:,} bytes.")
        chunks, size = [], 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > self.limit:
                raise PayloadTooLarge(f"The body is larger than {self.limit:,} bytes.")
            chunks.append(chunk)
        raw = b"".join(chunks)
        # an inference request may carry binary tensor data after its JSON (OIP extension)
        header = self.request.headers.get(HEADER) if self.endpoint == "infer" else None
        parse = (
            parse_json
            if header is None  # the row limit checked before any binary value is decoded
            else functools.partial(decode, header=header, check=self._checked)
        )
        if len(raw) <= BIG_BODY:
            return self._checked(parse(raw))
        # ~10 ms of parsing per MB, in a thread, not on the event loop; one at a time (the
        # parser holds the GIL anyway), so four huge bodies never hold ~10x their size in
        # Python objects at once: each is refused beyond max_rows before the next parse
        async with self.request.app.state.parsing:
            return self._checked(await asyncio.to_thread(parse, raw))

    def _checked(self, body: Any) -> Any:
        if self.endpoint is not None:
            check_rows(body, self.endpoint, self.request.app.state.max_rows)
        return body


async def _answer(
    request: Request, endpoint: str, name: str | None = None, version: str | None = None
) -> Response:
    service = _service(request)
    service.gate(request.headers, "predict")
    explain = endpoint != "infer" and wants_explanation(request.query_params, endpoint)
    body = HttpBody(request, request.app.state.max_body, endpoint)
    answer = await service.infer(
        body,
        endpoint=endpoint,
        name=name,
        version=version,
        headers=request.headers,
        explain=explain,
    )
    if endpoint == "infer":
        content, extra = render(answer.payload)
    else:
        content, extra = orjson.dumps(answer.payload, option=orjson.OPT_SERIALIZE_NUMPY), {}
    return Response(
        content,
        status_code=answer.status,
        media_type="application/json",
        headers={**answer.headers, **extra, "x-request-id": answer.request_id},
    )


@router.get("/v2/health/live", tags=["health"], responses=errors(*ANY_ROUTE))
async def live() -> Response:
    return json_response(200, {"live": True})


@router.get("/v2/health/ready", tags=["health"], responses=errors(*ANY_ROUTE, 503))
async def ready(request: Request) -> Response:
    ok = _service(request).ready
    return json_response(200 if ok else 503, {"ready": ok})


@router.get("/v2", tags=["metadata"], responses=_GATED)
async def server_metadata(request: Request) -> Response:
    _service(request).gate(request.headers, "predict")
    server = {"name": "shipyard", "version": __version__, "extensions": ["binary_tensor_data"]}
    return json_response(200, server)


@router.get("/v2/models/{name}", tags=["metadata"], responses=_NAMED)
async def model_metadata(name: str, request: Request) -> Response:
    service = _service(request)
    service.gate(request.headers, "predict")
    return json_response(200, service.metadata(name))


@router.get("/v2/models/{name}/versions/{version}", tags=["metadata"], responses=_NAMED)
async def version_metadata(name: str, version: str, request: Request) -> Response:
    service = _service(request)
    service.gate(request.headers, "predict")
    return json_response(200, service.metadata(name, version))


@router.get("/v2/models/{name}/ready", tags=["health"], responses=_NAMED)
async def model_is_ready(name: str, request: Request) -> Response:
    service = _service(request)
    service.gate(request.headers, "predict")
    service.metadata(name)
    return json_response(200, {"name": name, "ready": True})


@router.get("/v2/models/{name}/versions/{version}/ready", tags=["health"], responses=_NAMED)
async def version_is_ready(name: str, version: str, request: Request) -> Response:
    service = _service(request)
    service.gate(request.headers, "predict")
    service.metadata(name, version)
    return json_response(200, {"name": name, "ready": True})


@router.post(
    "/v2/models/{name}/infer",
    tags=["inference"],
    openapi_extra=request_id_header(body_schema(INFER_BODY)),
    responses=_INFER,
)
async def infer_latest(name: str, request: Request) -> Response:
    return await _answer(request, "infer", name)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    tags=["inference"],
    openapi_extra=request_id_header(body_schema(INFER_BODY)),
    responses=_INFER,
)
async def infer_version(name: str, version: str, request: Request) -> Response:
    return await _answer(request, "infer", name, version)


@router.post(
    "/predict",
    tags=["inference"],
    openapi_extra=request_id_header(body_schema(PREDICT_BODY)),
    responses=_PREDICT,
)
async def predict_route(
    request: Request,
    explain: bool = Query(
        False, description="Add each row's explanation (per-feature contributions)."
    ),
) -> Response:
    return await _answer(request, "predict")


@router.post(
    "/explain",
    tags=["inference"],
    openapi_extra=request_id_header(body_schema(PREDICT_BODY)),
    responses=_PREDICT,
    description=(
        "The prediction of /predict (same bodies) with its explanation: the method, the "
        "output explained (log-odds, probability or raw), the base value and each row's "
        "per-feature contributions, which add up with the base value to that output."
    ),
)
async def explain_route(request: Request) -> Response:
    return await _answer(request, "explain")


@router.post(
    "/feedback",
    tags=["inference"],
    openapi_extra=body_schema(FEEDBACK_BODY),
    responses=_FEEDBACK,
)
async def feedback_route(request: Request) -> Response:
    service = _service(request)
    service.gate(request.headers, "feedback")
    body = await HttpBody(request, request.app.state.max_body).load()
    return json_response(200, await service.feedback(body))


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,  # no JSON: the 200 is documented as text, the errors as JSON
    responses={**METRICS_TEXT, **_GATED},
)
async def metrics_route(request: Request) -> Response:
    service = _service(request)
    service.gate(request.headers, "admin")
    return Response(service.metrics(), media_type="text/plain; version=0.0.4")


# The inference endpoints again, first in the route table and as plain Starlette routes:
# they match before anything else and skip FastAPI's parameter solving (~20% of a one-row
# request's time); the routes above stay for the OpenAPI description.
async def _fast_predict(request: Request) -> Response:
    return await _answer(request, "predict")


async def _fast_explain(request: Request) -> Response:
    return await _answer(request, "explain")


async def _fast_infer(request: Request) -> Response:
    params = request.path_params
    return await _answer(request, "infer", params["name"], params.get("version"))


def install_routes(
    app: FastAPI, service: InferenceService, max_body: int, max_rows: int = 100_000
) -> None:
    """Put the server's routes on ``app``, answering through ``service``."""
    app.state.service = service
    app.state.max_body, app.state.max_rows = max_body, max_rows
    app.state.parsing = asyncio.Semaphore(1)  # big bodies parsed one at a time
    app.include_router(router)
    app.router.routes[:0] = [
        Route("/predict", _fast_predict, methods=["POST"]),
        Route("/explain", _fast_explain, methods=["POST"]),
        Route("/v2/models/{name}/infer", _fast_infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", _fast_infer, methods=["POST"]),
    ]

"""What the OpenAPI descriptions of both HTTP apps say about their answers.

Every error either app answers is ``{"error": message}`` (``_http``); :class:`ErrorBody` is
that one shared schema (``components/schemas/ErrorBody``) and :func:`errors` documents a
route's error statuses with it, for ``responses=`` on the route's decorator. The sets below
name what kinds of routes can answer, so a route lists only what it really can: every route
refuses a ``Host`` header it does not serve (400), a state-changing one a cross-site
``Origin`` (403) and a form or plain-text body (415), a keyed one a missing or unknown key
(401), a key without the scope (403) and, on the inference server, a key over its rate
limit (429).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = [
    "ANY_ROUTE",
    "CHANGES",
    "KEYED",
    "METRICS_TEXT",
    "ErrorBody",
    "errors",
    "request_id_header",
    "text_answer",
]


class ErrorBody(BaseModel):
    """The body of every error answer: one line naming what was wrong."""

    error: str


_WHY = {
    400: "Bad request: a body or parameter that is not what the protocol describes, or a "
    "Host header this server does not answer to.",
    401: "With auth on: no API key, or an unknown or revoked one.",
    403: "A key without the scope this request needs, or a cross-site Origin refused.",
    404: "No such model, version, resource or record.",
    409: "The resource's state forbids the change.",
    413: "The body is larger than the server's limit (bytes or rows).",
    415: "A state-changing request whose body is a form or plain text.",
    422: "Input the model's signature or the operation refuses, the field named.",
    429: "The API key's rate limit is reached (see Retry-After).",
    503: "Overloaded, or no model is ready yet (see Retry-After).",
}

# every route: a Host header the server does not answer to
ANY_ROUTE: tuple[int, ...] = (400,)
# a route that changes something: a cross-site Origin, a form or plain-text body
CHANGES: tuple[int, ...] = (400, 403, 415)
# a route behind API keys (with auth on)
KEYED: tuple[int, ...] = (401, 403)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering ``statuses`` (several sets may be given, in any
    order, with repeats) with :class:`ErrorBody`."""
    return {s: {"model": ErrorBody, "description": _WHY[s]} for s in sorted(set(statuses))}


def text_answer(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` documenting a 200 answered as text of ``media_type``. For a route
    declared with ``response_class=Response`` (no media type of its own), so FastAPI
    documents its errors as JSON and its 200 as this type only."""
    return {
        200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}
    }


# what ``/metrics`` answers: Prometheus' text exposition format
METRICS_TEXT = text_answer("text/plain; version=0.0.4", "Prometheus text exposition format.")


def request_id_header(extra: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` ``extra`` with the optional ``X-Request-ID`` header of the prediction
    routes: 1 to 128 printable characters, echoed on the answer (otherwise 400)."""
    header = {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": "The request's id (1 to 128 printable characters), echoed; one is made "
        "when absent.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    }
    return {**extra, "parameters": [*extra.get("parameters", []), header]}

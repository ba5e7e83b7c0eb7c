"""``/docs``: the REST API's reference as a page of the web UI, read from the app's OpenAPI.

Written here rather than served by Swagger UI or ReDoc: FastAPI loads those from a CDN, so a
third party's script would run on the server's own origin while users are signed in (it could
read what they read and press the buttons they may press). This page is rendered on the
server from ``app.openapi()``, with no script at all; ``/openapi.json`` is there for tools.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from shipyard.server._access import VIEWER
from shipyard.server._ui import pages, render

__all__ = ["router"]

router = pages()
_METHODS = ("get", "post", "put", "patch", "delete", "head")


@router.get("/docs", dependencies=[VIEWER])
def docs(request: Request) -> HTMLResponse:
    """Every operation of the API by tag: method, path, what it does, its parameters, body
    and answers."""
    spec = request.app.openapi()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is not None:
                tag = (operation.get("tags") or ["other"])[0]
                groups[tag].append(_operation(method, path, operation))
    return render(
        request,
        "api_docs.html",
        title=spec.get("info", {}).get("title", "API"),
        description=spec.get("info", {}).get("description", ""),
        version=spec.get("info", {}).get("version", ""),
        groups=sorted(groups.items()),
    )


def _operation(method: str, path: str, operation: dict[str, Any]) -> dict[str, Any]:
    params = [
        {
            "name": p.get("name", ""),
            "where": p.get("in", ""),
            "required": bool(p.get("required")),
            "type": _type(p.get("schema", {})),
            "description": p.get("description") or p.get("schema", {}).get("description", ""),
        }
        for p in operation.get("parameters", [])
    ]
    body = operation.get("requestBody", {}).get("content", {})
    return {
        "method": method.upper(),
        "path": path,
        "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
        "summary": operation.get("summary", ""),
        "description": operation.get("description", ""),
        "params": params,
        "body": [(kind, _type(media.get("schema", {}))) for kind, media in body.items()],
        "answers": [
            (status, answer.get("description", ""))
            for status, answer in sorted(operation.get("responses", {}).items())
        ],
    }


def _type(schema: dict[str, Any]) -> str:
    """A schema in a few words: its type (or referenced model), items, choices."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type(s) for s in schema[key])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    return kind

"""BodyLimit: a body above the bound is refused (413) before the route, its role check
included, reads it, whether it declares its length or arrives chunked."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from fastapi import Depends, FastAPI, Request

from shipyard.errors import Unauthorized
from shipyard.serving import background
from shipyard.serving._guard import BodyLimit
from shipyard.serving._http import install_error_handlers

LIMIT = 10_000


def _auth(request: Request) -> None:
    if request.headers.get("authorization") != "Bearer ok":
        raise Unauthorized("token: this server wants one.")


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/things", dependencies=[Depends(_auth)])
    def things(body: dict[str, str]) -> dict[str, int]:
        return {"keys": len(body)}

    @app.put("/api/blobs/uploads/x")
    async def chunk(request: Request) -> dict[str, int]:
        return {"got": len(await request.body())}

    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_body=LIMIT, exempt=lambda p: p.startswith("/api/blobs/"))
    return app


def _chunks(total: int) -> Iterator[bytes]:
    yield b'{"a": "'
    for _ in range(total // 1000):
        yield b"x" * 1000
    yield b'"}'


def test_big_bodies_are_refused_before_the_route_and_its_auth() -> None:
    big = b'{"a": "' + b"x" * (3 * LIMIT) + b'"}'
    json = {"Content-Type": "application/json"}
    with background(_app()) as url, httpx.Client(base_url=url) as client:
        for headers in ({}, {"Authorization": "Bearer ok"}):
            declared = client.post("/api/things", content=big, headers={**json, **headers})
            assert declared.status_code == 413, declared.text
            assert "10,000 bytes" in declared.json()["error"]
            chunked = client.post("/api/things", content=_chunks(3 * LIMIT), headers=json)
            assert chunked.status_code == 413, chunked.text
        small = client.post("/api/things", json={"a": "b"}, headers={"Authorization": "Bearer ok"})
        assert (small.status_code, small.json()) == (200, {"keys": 1})
        assert client.post("/api/things", json={"a": "b"}).status_code == 401
        exempt = client.put("/api/blobs/uploads/x", content=big, headers=json)
        assert (exempt.status_code, exempt.json()) == (200, {"got": len(big)})

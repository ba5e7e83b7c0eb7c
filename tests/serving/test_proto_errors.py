"""A bug in either HTTP app still answers the one error shape, ``{"error": ...}``, with
nothing of the traceback (that goes to the server's log)."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from shipyard import serving


def test_a_server_bug_answers_the_one_error_shape(home: Path) -> None:
    from shipyard.serving._http import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with serving.background(app) as url:
        answer = httpx.get(f"{url}/boom")
    assert answer.status_code == 500
    assert answer.json() == {"error": "Internal server error: see the server's log."}

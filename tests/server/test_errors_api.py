"""The platform API answers every error as {"error": ...}: unknown paths and methods too."""

from __future__ import annotations

from pathlib import Path

import httpx

from shipyard import serving
from shipyard.server import create_app


def test_unknown_paths_and_methods_answer_json(home: Path) -> None:
    with serving.background(create_app()) as url, httpx.Client(base_url=url) as api:
        missing = api.get("/api/no-such-thing")
        assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
        wrong = api.delete("/api/health")
        assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
        assert "allow" in wrong.headers

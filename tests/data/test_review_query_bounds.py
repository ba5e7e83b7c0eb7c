"""The platform server's SQL route bounds its answer's size, not only its rows: one cell
of a gigabyte would otherwise be built in memory and sent (an editor could exhaust the
server's memory with a few such queries)."""

from __future__ import annotations

from pathlib import Path

import httpx

from shipyard.server import create_app
from shipyard.serving import background


def test_a_huge_answer_is_refused_naming_the_bound(home: Path) -> None:
    with background(create_app()) as url, httpx.Client(base_url=url, timeout=60) as client:
        huge = client.post(
            "/api/datasets/query", json={"sql": "SELECT repeat('x', 200000000) AS big"}
        )
        assert huge.status_code == 422, huge.status_code
        assert "bytes" in huge.json()["error"] and "fewer" in huge.json()["error"]
        small = client.post("/api/datasets/query", json={"sql": "SELECT 41 + 1 AS answer"})
        assert small.status_code == 200 and small.json()["rows"] == [[42]]

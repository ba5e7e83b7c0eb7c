"""``/docs`` is the API reference as a page of the UI: every operation listed, no script
from another site on the server's origin."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from shipyard.server import create_app
from shipyard.serving import background


def test_the_reference_lists_every_operation_without_outside_scripts(home: Path) -> None:
    app = create_app()
    with background(app) as url:
        page = httpx.get(f"{url}/docs", timeout=30)
        spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path in ("/api/runs", "/api/datasets", "/api/models", "/api/blobs/{digest}"):
        assert f"<code>{path}</code>" in page.text
    operations = sum(len(item) for item in spec["paths"].values())
    assert page.text.count('class="panel" id=') == operations
    sources = re.findall(r'<script[^>]*src="([^"]*)"', page.text)
    assert all(src.startswith("/static/") for src in sources), sources

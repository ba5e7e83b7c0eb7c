"""Pages of the web UI refuse to be framed by another site: without auth (a loopback
server) everyone acts as admin, so a framed models page would let another site trick a
click on its promote or rollback button into a same-origin request (clickjacking)."""

from __future__ import annotations

from pathlib import Path

import httpx

from shipyard.server import create_app
from shipyard.serving import background


def test_pages_forbid_framing(home: Path) -> None:
    with background(create_app()) as url:
        for path in ("/", "/models", "/datasets", "/runs", "/models/nope"):
            answer = httpx.get(url + path, headers={"Accept": "text/html"})
            assert answer.headers["content-type"].startswith("text/html"), path
            assert answer.headers.get("x-frame-options") == "DENY", path
            assert "frame-ancestors 'none'" in answer.headers.get("content-security-policy", "")


def test_an_html_artifact_is_a_download_never_a_page(home: Path, tmp_path: Path) -> None:
    import shipyard as sy

    page = tmp_path / "report.html"
    page.write_text("<script>fetch('/api/users', {method: 'POST'})</script>")
    with sy.start_run(experiment="review") as run:
        sy.log_artifact(str(page))
    with background(create_app()) as url:
        answer = httpx.get(f"{url}/runs/{run.id}/artifacts/report.html")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-disposition"].startswith("attachment")

"""Hostile headers on the blob routes: numbers of thousands of digits in ``Range`` and
``Content-Range`` are client mistakes (4xx or ignored), never a 500."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from shipyard.server import create_app
from shipyard.serving import background

HUGE = "1" * 5000  # Python refuses int() of more than 4300 digits


def test_huge_numbers_in_range_headers_are_not_server_errors(home: Path) -> None:
    data = b"hello"
    digest = hashlib.sha256(data).hexdigest()
    with background(create_app()) as url, httpx.Client(base_url=url) as client:
        started = client.post("/api/blobs/uploads", json={"sha256": digest, "size": len(data)})
        upload = started.json()["upload_id"]
        binary = {"Content-Type": "application/octet-stream"}
        for content_range in (f"bytes 0-{HUGE}/5", f"bytes 0-4/{HUGE}", f"bytes {HUGE}-4/5"):
            answer = client.put(
                f"/api/blobs/uploads/{upload}",
                content=data,
                headers={**binary, "Content-Range": content_range},
            )
            assert answer.status_code == 422, (content_range, answer.text)
            assert "Content-Range" in answer.json()["error"]
        sent = client.put(f"/api/blobs/uploads/{upload}?offset=0", content=data, headers=binary)
        assert sent.status_code == 200, sent.text
        assert client.post(f"/api/blobs/uploads/{upload}/complete").status_code == 200
        blob = f"/api/blobs/{digest}"
        assert client.get(blob, headers={"Range": f"bytes={HUGE}-"}).status_code == 416
        assert client.get(blob, headers={"Range": f"bytes=-{HUGE}"}).content == data
        tail = client.get(blob, headers={"Range": f"bytes=3-{HUGE}"})
        assert (tail.status_code, tail.content) == (206, b"lo")


def test_a_missing_blob_does_not_reveal_the_servers_folders(home: Path) -> None:
    missing = "0" * 64
    with background(create_app()) as url, httpx.Client(base_url=url) as client:
        for answer in (client.get(f"/api/blobs/{missing}"), client.head(f"/api/blobs/{missing}")):
            assert answer.status_code == 404
        error = client.get(f"/api/blobs/{missing}").json()["error"]
        assert missing in error and str(home) not in error and "/" not in error


def test_an_upload_size_must_be_a_json_integer(home: Path) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    with background(create_app()) as url, httpx.Client(base_url=url) as client:
        for size in (True, "1", 1.0):
            answer = client.post("/api/blobs/uploads", json={"sha256": digest, "size": size})
            assert answer.status_code == 422, (size, answer.text)
            assert answer.json()["error"].startswith("size:")


def test_conditional_blob_requests_follow_rfc_9110(home: Path) -> None:
    data = b"conditional"
    digest = hashlib.sha256(data).hexdigest()
    etag = f'"{digest}"'
    with background(create_app()) as url, httpx.Client(base_url=url) as client:
        started = client.post("/api/blobs/uploads", json={"sha256": digest, "size": len(data)})
        upload = started.json()["upload_id"]
        binary = {"Content-Type": "application/octet-stream"}
        client.put(f"/api/blobs/uploads/{upload}?offset=0", content=data, headers=binary)
        assert client.post(f"/api/blobs/uploads/{upload}/complete").status_code == 200
        blob = f"/api/blobs/{digest}"
        for held in (etag, f'"x", {etag}', f"W/{etag}", "*"):
            same = client.get(blob, headers={"If-None-Match": held})
            assert (same.status_code, same.content) == (304, b""), held
            assert same.headers["ETag"] == etag
        changed = client.get(blob, headers={"If-None-Match": '"another"'})
        assert (changed.status_code, changed.content) == (200, data)
        resumed = client.get(blob, headers={"Range": "bytes=4-", "If-Range": etag})
        assert (resumed.status_code, resumed.content) == (206, b"itional")
        for stale in ('"another"', "Sat, 05 Dec 2026 10:00:00 GMT"):
            whole = client.get(blob, headers={"Range": "bytes=4-", "If-Range": stale})
            assert (whole.status_code, whole.content) == (200, data), stale
        head = client.head(blob)
        assert head.status_code == 200
        assert head.headers["content-type"] == "application/octet-stream"
        assert head.headers["content-length"] == str(len(data))

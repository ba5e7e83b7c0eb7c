"""Artifacts over HTTP against real servers: round trips in remote mode, Range downloads,
uploads resumed after a really dropped connection (both sides), a digest mismatch refused
with nothing stored, client mistakes answered 4xx, stale sessions removed, and other
requests served while a big upload is in flight."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.config import reset_settings
from shipyard.errors import IntegrityError, InvalidInput, NotFound
from shipyard.server import create_app
from shipyard.serving import background
from shipyard.store import HttpArtifactStore, RemoteClient, default_artifacts
from shipyard.testing.proxy import FaultyProxy

MB = 1 << 20
BINARY = {"Content-Type": "application/octet-stream"}


def _bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def served(home: Path, tmp_path: Path) -> Iterator[tuple[str, HttpArtifactStore]]:
    """A platform server in this process over the test's local store, and an HTTP store
    (1 MB chunks) pointed at it."""
    with background(create_app()) as url:
        store = HttpArtifactStore(
            RemoteClient(url), cache_dir=tmp_path / "cache", chunk_size=MB, backoff=0.05
        )
        yield url, store
        store.client.close()


def _start(url: str, data: bytes, digest: str | None = None) -> dict[str, object]:
    answer = httpx.post(
        f"{url}/api/blobs/uploads", json={"sha256": digest or _sha(data), "size": len(data)}
    )
    assert answer.status_code == 200, answer.text
    state: dict[str, object] = answer.json()
    return state


# -- remote mode: the default store is the server's ------------------------------------------


def test_round_trip_in_remote_mode(remote: str, tmp_path: Path) -> None:
    store = default_artifacts()
    assert isinstance(store, HttpArtifactStore)
    data = _bytes(3 * MB + 17)
    blob = store.put_bytes(data)
    assert blob.digest == _sha(data) and blob.size == len(data)
    assert store.exists(blob.digest) and not store.exists("0" * 64)
    assert store.get_bytes(blob.digest) == data
    source = tmp_path / "model.bin"
    source.write_bytes(data[::-1])
    from_file = store.put_file(source)
    assert from_file.digest == _sha(data[::-1])
    copy = store.download(from_file.digest, tmp_path / "out" / "copy.bin")
    assert copy.read_bytes() == data[::-1]
    assert store.put_bytes(data) == blob  # already stored: nothing sent, same blob
    assert store.get_bytes(store.put_bytes(b"").digest) == b""


def test_local_path_is_a_verified_reused_copy(remote: str, home: Path) -> None:
    store = default_artifacts()
    data = _bytes(MB + 1, seed=1)
    digest = store.put_bytes(data).digest
    path = store.local_path(digest)
    assert path.parent == home / "cache" and path.read_bytes() == data
    first = path.stat()
    assert store.local_path(digest) == path and path.stat().st_ino == first.st_ino  # reused
    path.write_bytes(b"damaged")
    assert store.local_path(digest).read_bytes() == data  # downloaded again


def test_missing_and_malformed_digests(remote: str, tmp_path: Path) -> None:
    store = default_artifacts()
    with pytest.raises(NotFound):
        store.get_bytes("1" * 64)
    with pytest.raises(NotFound):
        store.download("1" * 64, tmp_path / "x")
    assert not (tmp_path / "x").exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidInput, match="not a sha256 hex digest"):
        store.local_path("../etc/passwd")
    with pytest.raises(NotFound, match="is not a file"):
        store.put_file(tmp_path / "nothing-here")


# -- downloads --------------------------------------------------------------------------------


def test_range_requests(served: tuple[str, HttpArtifactStore]) -> None:
    url, store = served
    data = _bytes(2 * MB + 5, seed=2)
    digest = store.put_bytes(data).digest
    blob = f"{url}/api/blobs/{digest}"
    head = httpx.head(blob)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert head.headers["etag"] == f'"{digest}"' and head.headers["accept-ranges"] == "bytes"
    whole = httpx.get(blob)
    assert whole.status_code == 200 and whole.content == data
    size = len(data)
    for asked, first, last in [
        ("bytes=0-0", 0, 0),
        ("bytes=10-", 10, size - 1),
        ("bytes=-5", size - 5, size - 1),
        ("bytes=MB-", MB, size - 1),
        ("bytes=5-99999999", 5, size - 1),
    ]:
        part = httpx.get(blob, headers={"Range": asked.replace("MB", str(MB))})
        assert part.status_code == 206, asked
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == data[first : last + 1]
    for ignored in ("bytes=9-2", "bytes=0-1,5-6", "pages=1-2"):
        assert httpx.get(blob, headers={"Range": ignored}).content == data  # whole blob
    beyond = httpx.get(blob, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert "error" in beyond.json()
    assert httpx.head(f"{url}/api/blobs/{'2' * 64}").status_code == 404


def test_a_download_resumes_after_a_dropped_connection(
    served: tuple[str, HttpArtifactStore], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, store = served
    data = _bytes(4 * MB, seed=3)
    digest = store.put_bytes(data).digest
    with FaultyProxy(url, cut_down=int(2.5 * MB)) as proxied:
        remote = HttpArtifactStore(RemoteClient(proxied.url), backoff=0.05)
        with caplog.at_level(logging.INFO, "shipyard.store"):
            copy = remote.download(digest, tmp_path / "copy.bin")
        remote.client.close()
    assert copy.read_bytes() == data
    assert any("resuming the download" in r.getMessage() for r in caplog.records)


def test_bytes_read_whole_resume_after_a_dropped_connection(
    served: tuple[str, HttpArtifactStore], caplog: pytest.LogCaptureFixture
) -> None:
    """What a model load reads (get_bytes) resumes too, instead of failing the load."""
    url, store = served
    data = _bytes(4 * MB, seed=4)
    digest = store.put_bytes(data).digest
    with FaultyProxy(url, cut_down=int(1.5 * MB)) as proxied:
        remote = HttpArtifactStore(RemoteClient(proxied.url), backoff=0.05)
        with caplog.at_level(logging.INFO, "shipyard.store"):
            assert remote.get_bytes(digest) == data
        with pytest.raises(NotFound):
            remote.get_bytes("3" * 64)
        remote.client.close()
    assert any("resuming the download" in r.getMessage() for r in caplog.records)


def test_a_damaged_server_copy_is_refused_on_download(
    served: tuple[str, HttpArtifactStore], home: Path, tmp_path: Path
) -> None:
    _, store = served
    data = _bytes(MB, seed=16)
    digest = store.put_bytes(data).digest
    stored = home / "artifacts" / "objects" / digest[:2] / digest[2:4] / digest
    damaged = stored.with_name("damaged")
    damaged.write_bytes(_bytes(MB, seed=17))  # same size, other bytes
    damaged.replace(stored)  # a new inode: the server sees the change at once
    with pytest.raises(IntegrityError, match="is corrupt"):
        store.get_bytes(digest)
    with pytest.raises(IntegrityError, match="is corrupt"):
        store.download(digest, tmp_path / "copy.bin")
    assert not any(tmp_path.glob("*copy.bin*"))  # no partial file left
    with pytest.raises(IntegrityError):
        store.local_path(digest)
    assert store.put_bytes(data).digest == digest  # storing it again repairs it
    assert store.get_bytes(digest) == data


# -- uploads ----------------------------------------------------------------------------------


def test_an_upload_resumes_after_the_client_dropped_its_connection(
    served: tuple[str, HttpArtifactStore], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, store = served
    data = _bytes(6 * MB, seed=4)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    session = _start(url, data)
    state = f"{url}/api/blobs/uploads/{session['upload_id']}"
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:  # a client that dies mid-body
        sock.sendall(
            f"PUT /api/blobs/uploads/{session['upload_id']}?offset=0 HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {4 * MB}\r\n\r\n".encode()
        )
        sock.sendall(data[: int(2.5 * MB)])
        _wait_until(lambda: httpx.get(state).json()["offset"] >= 2 * MB, "2 MB to arrive")
    with caplog.at_level(logging.INFO, "shipyard.store"):
        blob = store.put_file(source)  # joins the session, sends the rest
    assert blob.digest == _sha(data) and store.get_bytes(blob.digest) == data
    resumed = [r.getMessage() for r in caplog.records if "resuming the upload" in r.getMessage()]
    assert resumed and int(resumed[0].split(" at byte ")[1].split()[0]) >= 2 * MB
    assert httpx.get(state).status_code == 404  # completed: the session is gone


def test_the_client_retries_an_upload_whose_connection_dropped(
    served: tuple[str, HttpArtifactStore], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = served
    data = _bytes(5 * MB, seed=5)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    with FaultyProxy(url, cut_up=int(2.5 * MB)) as proxied:
        store = HttpArtifactStore(RemoteClient(proxied.url), chunk_size=MB, backoff=0.05)
        with caplog.at_level(logging.INFO, "shipyard.store"):
            blob = store.put_file(source)
        store.client.close()
    assert blob.digest == _sha(data)
    assert served[1].get_bytes(blob.digest) == data
    assert any("resuming the upload" in r.getMessage() for r in caplog.records)


def test_a_digest_mismatch_is_refused_and_nothing_stored(
    served: tuple[str, HttpArtifactStore], home: Path
) -> None:
    url, store = served
    declared, sent = _bytes(MB, seed=6), _bytes(MB, seed=7)
    session = _start(url, declared)
    chunk = httpx.put(
        f"{url}/api/blobs/uploads/{session['upload_id']}?offset=0", content=sent, headers=BINARY
    )
    assert chunk.status_code == 200 and chunk.json()["offset"] == MB
    done = httpx.post(f"{url}/api/blobs/uploads/{session['upload_id']}/complete")
    assert done.status_code == 422
    assert "nothing was stored" in done.json()["error"] and _sha(sent) in done.json()["error"]
    assert not store.exists(_sha(declared)) and not store.exists(_sha(sent))
    assert list((home / "artifacts" / "uploads").iterdir()) == []  # session removed
    assert httpx.get(f"{url}/api/blobs/uploads/{session['upload_id']}").status_code == 404


def test_client_mistakes_are_answered_4xx(served: tuple[str, HttpArtifactStore]) -> None:
    url, _ = served
    data = _bytes(1000, seed=8)
    session = _start(url, data)
    put = f"{url}/api/blobs/uploads/{session['upload_id']}"

    def status(method: str, path: str, **kwargs: object) -> int:
        return httpx.request(method, path, **kwargs).status_code  # type: ignore[arg-type]

    assert status("PUT", put, params={"offset": 5}, content=b"x", headers=BINARY) == 409
    assert status("PUT", put, content=b"x", headers=BINARY) == 422  # no offset
    assert status("PUT", put, params={"offset": -1}, content=b"x", headers=BINARY) == 422
    too_long = data + b"overflow"
    assert status("PUT", put, params={"offset": 0}, content=too_long, headers=BINARY) == 422
    bad_range = {**BINARY, "Content-Range": "bytes 0-9/1000"}
    assert status("PUT", put, content=data, headers=bad_range) == 422  # 10 bytes named
    wrong_total = {**BINARY, "Content-Range": "bytes 0-999/5"}
    assert status("PUT", put, content=data, headers=wrong_total) == 422
    text = {"Content-Type": "text/plain"}
    assert status("PUT", put, params={"offset": 0}, content=b"x", headers=text) == 415
    assert status("POST", f"{put}/complete") == 409  # nothing arrived yet
    assert status("GET", f"{url}/api/blobs/uploads/{'f' * 32}") == 404
    assert status("GET", f"{url}/api/blobs/not-a-digest") == 422
    assert status("GET", f"{url}/api/blobs/{'3' * 64}") == 404
    assert status("POST", f"{url}/api/blobs/uploads", json={"sha256": "x", "size": 1}) == 422
    assert status("POST", f"{url}/api/blobs/uploads", json={"sha256": "a" * 64, "size": -1}) == 422
    huge = {"sha256": "a" * 64, "size": 1 << 43}
    assert status("POST", f"{url}/api/blobs/uploads", json=huge) == 413  # no such free disk
    ranged = {**BINARY, "Content-Range": "bytes 0-999/1000"}
    assert status("PUT", put, content=data, headers=ranged) == 200
    assert httpx.post(f"{put}/complete").json()["stored"] is True
    assert status("DELETE", put) == 404  # completed


def test_chunks_beyond_the_limit_are_refused(
    served: tuple[str, HttpArtifactStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = served
    data = _bytes(70 * MB, seed=9)
    session = _start(url, data)
    put = f"{url}/api/blobs/uploads/{session['upload_id']}"
    assert session["chunk_limit"] == 64 * MB
    big = httpx.put(put, params={"offset": 0}, content=data[: 65 * MB], headers=BINARY)
    assert big.status_code == 413 and "at most" in big.json()["error"]
    assert httpx.get(put).json()["offset"] == 0
    streamed = httpx.put(
        put, params={"offset": 0}, content=iter([data[: 40 * MB], data[40 * MB : 65 * MB]]),
        headers=BINARY,
    )  # fmt: skip
    assert streamed.status_code == 413  # no Content-Length: counted as it streams, not kept
    assert httpx.get(put).json()["offset"] == 0
    assert httpx.delete(put).status_code == 204


def test_stale_sessions_are_removed(served: tuple[str, HttpArtifactStore], home: Path) -> None:
    url, _ = served
    old = _start(url, _bytes(10, seed=10))
    httpx.put(
        f"{url}/api/blobs/uploads/{old['upload_id']}?offset=0", content=b"12345", headers=BINARY
    )
    folder = home / "artifacts" / "uploads"
    two_days_ago = time.time() - 2 * 86400
    for name in (f"{old['upload_id']}.json", f"{old['upload_id']}.part"):
        os.utime(folder / name, (two_days_ago, two_days_ago))
    fresh = _start(url, _bytes(10, seed=11))  # starting a session sweeps stale ones
    assert httpx.get(f"{url}/api/blobs/uploads/{old['upload_id']}").status_code == 404
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{fresh['upload_id']}.json",
        f"{fresh['upload_id']}.part",
    ]


def test_other_requests_are_served_during_a_big_upload(
    served: tuple[str, HttpArtifactStore],
) -> None:
    url, store = served
    data = _bytes(16 * MB, seed=12)
    session = _start(url, data)
    state = f"{url}/api/blobs/uploads/{session['upload_id']}"
    release = threading.Event()
    answers: list[httpx.Response] = []

    def body() -> Iterator[bytes]:
        for at in range(0, 8 * MB, MB):
            yield data[at : at + MB]
        release.wait(60)  # the upload stays open mid-body until the others are done
        for at in range(8 * MB, 16 * MB, MB):
            yield data[at : at + MB]

    def upload() -> None:
        headers = {**BINARY, "Content-Length": str(len(data))}
        answers.append(httpx.put(f"{state}?offset=0", content=body(), headers=headers, timeout=90))

    sender = threading.Thread(target=upload)
    sender.start()
    try:
        _wait_until(lambda: httpx.get(state).json()["offset"] >= 7 * MB, "7 MB to arrive")
        small = _bytes(3 * MB, seed=13)
        for _ in range(5):  # each answered while the big body is still arriving
            assert httpx.get(f"{url}/api/health", timeout=10).status_code == 200
        digest = store.put_bytes(small).digest
        assert store.get_bytes(digest) == small
        assert not release.is_set() and sender.is_alive()
    finally:
        release.set()
        sender.join(90)
    assert answers and answers[0].status_code == 200, answers
    assert httpx.post(f"{state}/complete").json()["stored"] is True
    assert store.get_bytes(_sha(data)) == data


def test_a_failed_upload_is_an_integrity_error(served: tuple[str, HttpArtifactStore]) -> None:
    url, store = served
    data = _bytes(2 * MB, seed=14)
    session = _start(url, data)
    wrong = _bytes(MB, seed=15)  # what another client sent first into the same session
    httpx.put(
        f"{url}/api/blobs/uploads/{session['upload_id']}?offset=0", content=wrong, headers=BINARY
    )
    with pytest.raises(IntegrityError, match="refused by the server"):
        store.put_bytes(data)  # joins the session at 1 MB; the whole does not hash right
    assert not store.exists(_sha(data))
    assert store.put_bytes(data).digest == _sha(data)  # a second try starts afresh


# -- local-only commands ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["gc", "--yes"]])
def test_local_only_commands_refuse_remote_mode(
    command: list[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_URL", "http://127.0.0.1:9")
    reset_settings()
    result = CliRunner().invoke(app, command)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "SHIPYARD_URL=http://127.0.0.1:9" in lines[0], result.output
    assert not (home / "shipyard.db").exists()

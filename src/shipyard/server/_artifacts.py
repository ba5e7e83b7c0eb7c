"""Blobs over HTTP: the artifact store's content, streamed, resumable and hash-verified.

Downloads: ``HEAD``/``GET /api/blobs/{sha256}`` answer the stored blob in chunks with its
``Content-Length``, ``ETag`` (the digest) and ``Accept-Ranges``; a ``Range: bytes=a-b``
request is answered ``206`` with that part (resuming a download), one the blob cannot
satisfy ``416``. Uploads: ``POST /api/blobs/uploads`` declares a sha256 and size and answers
either ``stored: true`` (nothing to send) or a session and how many bytes it already has;
``PUT /api/blobs/uploads/{id}?offset=N`` (or ``Content-Range: bytes N-M/SIZE``) appends a
chunk (at most :data:`CHUNK_LIMIT` bytes, starting exactly where the received bytes end);
``GET`` it tells how many bytes arrived (resume after a dropped connection); ``POST
.../complete`` checks the sha256 of what arrived and moves it into the store atomically (a
mismatch is refused, 422, and nothing is stored); ``DELETE`` cancels. Bodies stream through
the worker threads to a file, never held whole in memory (see ``server._uploads``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from shipyard.config import get_settings
from shipyard.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from shipyard.server._access import EDITOR, VIEWER
from shipyard.server._uploads import Upload, Uploads, uploads_in
from shipyard.serving._http import JSON
from shipyard.serving._openapi import ANY_ROUTE, CHANGES, KEYED, ErrorBody, errors
from shipyard.store import ArtifactStore, default_artifacts

__all__ = ["CHUNK_LIMIT", "is_upload_path", "router"]

CHUNK_LIMIT = 64 << 20  # bytes one PUT may carry
MAX_SIZE = 1 << 44  # 16 TiB: a declared size beyond is a mistake
_READ = 1 << 20  # bytes read or written at a time
_UPLOADS = "/api/blobs/uploads/"

router = APIRouter(tags=["artifacts"])

Digest = Annotated[
    str, PathParam(pattern="^[0-9a-f]{64}$", description="The blob's sha256 (64 hex digits).")
]
UploadId = Annotated[str, PathParam(pattern="^[0-9a-f]{32}$", description="The session's id.")]

_RANGE_416: dict[int | str, dict[str, Any]] = {
    416: {
        "model": ErrorBody,
        "description": "A Range the blob cannot satisfy (starts past its end); "
        "Content-Range names the blob's size.",
    }
}
_BLOB: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The blob's bytes (Content-Length, ETag = the sha256, Accept-Ranges).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    206: {
        "description": "The part of the blob a Range asked for (Content-Range).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
}
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "If-None-Match named the blob's ETag: the client's copy is current."}
}
_CHUNK_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class UploadRequest(BaseModel):
    """The content about to be sent: its sha256 and size."""

    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="sha256 of the whole content.")
    size: int = Field(ge=0, le=MAX_SIZE, strict=True, description="Its size in bytes.")


class UploadState(BaseModel):
    """An upload: ``stored`` (nothing more to send), else its session and ``offset``, how
    many bytes the server has (send from there)."""

    upload_id: str | None = None
    sha256: str
    size: int
    offset: int
    stored: bool
    chunk_limit: int = CHUNK_LIMIT


def is_upload_path(path: str) -> bool:
    """Whether a path takes raw bytes (``application/octet-stream``): the upload chunks."""
    return path.startswith(_UPLOADS)


def _store() -> ArtifactStore:
    store = default_artifacts()
    if not isinstance(store, ArtifactStore):  # a server pointed at another server
        raise InvalidInput("SHIPYARD_URL: the platform server's own store must be local; unset it.")
    return store


def _uploads() -> Uploads:
    store = _store()
    protocol = store.fs.protocol
    if {"file", "local"} & set(protocol if isinstance(protocol, tuple) else (protocol,)):
        return uploads_in(Path(store.root) / "uploads")  # same filesystem: one rename
    return uploads_in(get_settings().home / "uploads")


def _headers(digest: str, length: int) -> dict[str, str]:
    return {
        "Content-Length": str(length),
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",  # content-addressed
    }


@router.head(
    "/blobs/{digest}",
    dependencies=[VIEWER],
    response_class=Response,
    responses={200: _BLOB[200], **errors(*ANY_ROUTE, *KEYED, 404)},
)
def blob_head(digest: Digest) -> Response:
    """Whether the blob is stored (200 with its Content-Length and ETag, else 404)."""
    size = _size(_store(), digest)
    return Response(headers=_headers(digest, size), media_type="application/octet-stream")


@router.get(
    "/blobs/{digest}",
    dependencies=[VIEWER],
    response_class=Response,
    responses={**_BLOB, **_NOT_MODIFIED, **errors(*ANY_ROUTE, *KEYED, 404, 422), **_RANGE_416},
)
def blob_get(
    digest: Digest,
    range: Annotated[  # the header's name
        str | None, Header(description="bytes=START-END, bytes=START- or bytes=-LAST")
    ] = None,
    if_range: Annotated[
        str | None, Header(description="The blob's ETag: the Range applies only if it matches")
    ] = None,
    if_none_match: Annotated[
        str | None, Header(description="ETags the client holds: 304 when one is the blob's")
    ] = None,
) -> Response:
    """The blob's bytes, streamed; a ``Range`` answers 206 with that part (resume), unless an
    ``If-Range`` names another ETag (then the whole blob); 304 for an ``If-None-Match`` that
    names this blob (RFC 9110)."""
    store = _store()
    size = _size(store, digest)
    etag = f'"{digest}"'
    if if_none_match is not None and _names(if_none_match, etag):
        headers = _headers(digest, 0)
        del headers["Content-Length"], headers["Accept-Ranges"]
        return Response(status_code=304, headers=headers)
    if if_range is not None and if_range.strip() != etag:  # a date or another ETag
        range = None
    part = _range(range, size) if range else None
    if part == "unsatisfiable":
        return JSON(
            {"error": f"Range {range!r}: the blob has {size} bytes; ask for bytes below {size}."},
            status_code=416,
            headers={"Content-Range": f"bytes */{size}"},
        )
    start, end = part if isinstance(part, tuple) else (0, size - 1)
    headers = _headers(digest, end - start + 1)
    if isinstance(part, tuple):
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _chunks(store, digest, start, end - start + 1),
        status_code=206 if isinstance(part, tuple) else 200,
        headers=headers,
        media_type="application/octet-stream",
    )


def _names(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` list names ``etag`` (weak comparison) or is ``*``."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _size(store: ArtifactStore, digest: str) -> int:
    """The blob's size; NotFound naming the digest only (the store's own message names its
    folder on the server's disk, no business of a client's)."""
    try:
        return store.size(digest)
    except NotFound:
        raise NotFound(f"blob {digest}: not stored here.") from None


def _range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) byte of a single ``bytes=`` range, "unsatisfiable", or None for a
    header to ignore (malformed or several ranges: the whole blob is answered, RFC 9110)."""
    match = re.fullmatch(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", header)
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        n = _int(last)
        return (max(size - n, 0), size - 1) if n and size else "unsatisfiable"
    start = _int(first)
    end = min(_int(last), size - 1) if last else size - 1
    if last and _int(last) < start:
        return None
    return (start, end) if start < size else "unsatisfiable"


def _int(digits: str) -> int:
    """A header's decimal number; past 19 digits, one bigger than any size (Python refuses
    to parse numbers of thousands of digits, which would be a 500)."""
    return int(digits) if len(digits) <= 19 else MAX_SIZE + 1


def _chunks(store: ArtifactStore, digest: str, start: int, length: int) -> Iterator[bytes]:
    """The bytes, read a chunk at a time (Starlette iterates this in a worker thread)."""
    with store.open(digest) as fh:
        if start:
            fh.seek(start)
        left = length
        while left > 0:
            chunk = fh.read(min(_READ, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


@router.post(
    "/blobs/uploads",
    dependencies=[EDITOR],
    responses=errors(*CHANGES, *KEYED, 409, 413, 422),
)
def upload_start(body: UploadRequest) -> UploadState:
    """Start (or resume) uploading content of a declared sha256 and size: ``stored`` when
    the store has it already (send nothing), else the session and its ``offset``. 413 when
    it does not fit the free disk beside what the other open sessions still expect; 409
    when the server keeps as many sessions as it will."""
    if _store().claim(body.sha256, body.size):
        return UploadState(sha256=body.sha256, size=body.size, offset=body.size, stored=True)
    uploads = _uploads()
    upload = uploads.start(body.sha256, body.size)
    free = shutil.disk_usage(uploads.folder).free
    missing = body.size - upload.received()
    promised = uploads.promised(upload)  # what the other open sessions will still write
    if missing + promised > free:
        uploads.drop(upload)
        raise PayloadTooLarge(
            f"size: {body.size} bytes do not fit; the server has {free} bytes free"
            + (f", {promised} of them promised to other uploads." if promised else ".")
        )
    return UploadState(**upload.state())


@router.get(
    "/blobs/uploads/{upload_id}",
    dependencies=[EDITOR],
    responses=errors(*ANY_ROUTE, *KEYED, 404, 422),
)
def upload_get(upload_id: UploadId) -> UploadState:
    """The session: how many bytes arrived (``offset``: send from there)."""
    return UploadState(**_uploads().get(upload_id).state())


@router.put(
    "/blobs/uploads/{upload_id}",
    dependencies=[EDITOR],
    responses=errors(*CHANGES, *KEYED, 404, 409, 413, 422),
    openapi_extra=_CHUNK_BODY,
)
async def upload_put(
    upload_id: UploadId,
    request: Request,
    offset: Annotated[
        int | None, Query(ge=0, le=MAX_SIZE, description="Where the chunk starts.")
    ] = None,
    content_range: Annotated[
        str | None, Header(description="bytes START-END/SIZE (instead of ?offset=)")
    ] = None,
) -> UploadState:
    """Append a chunk (``application/octet-stream``, at most ``chunk_limit`` bytes) where
    the received bytes end; 409 names a wrong offset, then ask the session and resume."""
    upload = await anyio.to_thread.run_sync(lambda: _uploads().get(upload_id))
    declared = request.headers.get("content-length")  # valid: the HTTP server checked it
    content_length = int(declared) if declared and declared.isdigit() else None
    start = _start(offset, content_range, content_length, upload.size)
    if content_length is not None:
        _check_length(upload, start, content_length)
    with upload.held():
        received = await anyio.to_thread.run_sync(upload.received)
        if start != received:
            raise Conflict(
                f"offset: the chunk starts at {start} but the server has {received} bytes of "
                f"upload {upload.id}; send from byte {received}."
            )
        await _receive(request, upload, received)
    return UploadState(**upload.state())


async def _receive(request: Request, upload: Upload, start: int) -> None:
    """Write the body to the part file as it arrives, a megabyte at a time in a worker
    thread (the next megabyte is received while the last one is written and hashed);
    bytes that arrived before a dropped connection are kept."""
    limit = min(CHUNK_LIMIT, upload.size - start)
    loop = asyncio.get_running_loop()
    out = await loop.run_in_executor(None, upload.open)
    writing: asyncio.Future[None] | None = None
    buffer = bytearray()
    got = 0
    try:
        try:
            async for piece in request.stream():
                got += len(piece)
                if got > limit:
                    break
                buffer += piece
                if len(buffer) >= _READ:
                    if writing is not None:
                        await writing
                    writing = loop.run_in_executor(None, upload.append, out, bytes(buffer))
                    buffer.clear()
        except ClientDisconnect:
            pass  # keep what arrived: the client resumes from the session's offset
        if writing is not None:
            await writing
            writing = None
        if buffer and got <= limit:
            await loop.run_in_executor(None, upload.append, out, bytes(buffer))
    finally:
        if writing is not None:
            await asyncio.wait([writing])
        await loop.run_in_executor(None, out.close)
    if got > limit:
        await loop.run_in_executor(None, upload.truncate, start)
        _refuse_excess(upload, start, limit)


def _start(offset: int | None, content_range: str | None, length: int | None, size: int) -> int:
    """Where the chunk starts: ``?offset=`` or ``Content-Range`` (consistent when both)."""
    if content_range is None:
        if offset is None:
            raise InvalidInput("offset: give ?offset=N or 'Content-Range: bytes N-M/SIZE'.")
        return offset
    match = re.fullmatch(r"\s*bytes\s+([0-9]+)-([0-9]+)/([0-9]+|\*)\s*", content_range)
    if match is None:
        raise InvalidInput(
            f"Content-Range: expected 'bytes START-END/SIZE', got {content_range[:80]!r}."
        )
    first, last, total = _int(match.group(1)), _int(match.group(2)), match.group(3)
    if last < first or (length is not None and last - first + 1 != length):
        raise InvalidInput(
            f"Content-Range: bytes {first}-{last} is not the {length} bytes of the body."
        )
    if total != "*" and _int(total) != size:
        raise InvalidInput(f"Content-Range: total {total} is not the declared size {size}.")
    if offset is not None and offset != first:
        raise InvalidInput(f"offset: {offset} disagrees with Content-Range (starts at {first}).")
    return first


def _check_length(upload: Upload, start: int, length: int) -> None:
    if length > CHUNK_LIMIT:
        raise PayloadTooLarge(
            f"Content-Length: {length} bytes; a chunk may carry at most {CHUNK_LIMIT}."
        )
    if start + length > upload.size:
        raise InvalidInput(
            f"Content-Length: {length} bytes from offset {start} go past the declared size "
            f"{upload.size}."
        )


def _refuse_excess(upload: Upload, start: int, limit: int) -> None:
    if limit < CHUNK_LIMIT:
        raise InvalidInput(
            f"body: more bytes than the {upload.size - start} left of the declared size "
            f"{upload.size}; the chunk was not kept."
        )
    raise PayloadTooLarge(f"body: a chunk may carry at most {CHUNK_LIMIT} bytes; it was not kept.")


@router.post(
    "/blobs/uploads/{upload_id}/complete",
    dependencies=[EDITOR],
    responses=errors(*CHANGES, *KEYED, 404, 409, 422),
)
def upload_complete(upload_id: UploadId) -> UploadState:
    """Check that every byte arrived and hashes to the declared sha256, then move the
    content into the store (atomically). A mismatch is refused (422) and nothing is
    stored: the session is removed, upload again."""
    uploads = _uploads()
    upload = uploads.get(upload_id)
    with upload.held():
        received = upload.received()
        if received != upload.size:
            raise Conflict(
                f"upload {upload.id}: {received} of {upload.size} bytes arrived; send the "
                f"rest (PUT from offset {received}) before completing."
            )
        actual = upload.sha256()
        if actual != upload.digest:
            uploads.drop(upload)
            raise InvalidInput(
                f"sha256: the {received} bytes received hash to {actual}, not the declared "
                f"{upload.digest}; nothing was stored. Upload the content again."
            )
        _store().move_in(upload.part, upload.digest)
        uploads.drop(upload)
    return UploadState(sha256=upload.digest, size=upload.size, offset=upload.size, stored=True)


@router.delete(
    "/blobs/uploads/{upload_id}",
    dependencies=[EDITOR],
    status_code=204,
    response_class=Response,
    responses=errors(*CHANGES, *KEYED, 404, 409, 422),
)
def upload_cancel(upload_id: UploadId) -> Response:
    """Cancel the session and remove what it received."""
    uploads = _uploads()
    upload = uploads.get(upload_id)
    with upload.held():
        uploads.drop(upload)
    return Response(status_code=204)

"""Remote mode's artifact store: the platform server's ``/api/blobs``, streamed and resumable."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, Any

from shipyard.errors import Conflict, IntegrityError, InvalidInput, NotFound, Unavailable
from shipyard.store._blobs import Blob, BlobStore, check_digest
from shipyard.store._http import RemoteClient

__all__ = ["HttpArtifactStore"]

log = logging.getLogger("shipyard.store")

_READ = 1 << 20
_BINARY = {"Content-Type": "application/octet-stream"}


class HttpArtifactStore(BlobStore):
    """The artifact store of a platform server (``shipyard server``), over HTTP.

    Same contract as :class:`~shipyard.store.ArtifactStore`. Uploads hash the content first,
    then ask the server whether it has it (nothing is sent when it does), then send it in
    chunks of ``chunk_size`` bytes; a dropped connection or a busy session is retried
    (``retries`` times in a row without progress, waiting ``backoff`` seconds, doubled each
    time) from the offset the server reports, and the server checks the sha256 before
    storing. Downloads stream to a temporary file beside the target, hashed as they
    arrive, resumed with a ``Range`` request after a dropped connection, and renamed into
    place once verified. :meth:`local_path` keeps verified copies in ``cache_dir``.
    Memory stays at a chunk or two whatever the size. Thread-safe.
    """

    def __init__(
        self,
        client: RemoteClient,
        cache_dir: str | Path | None = None,
        *,
        chunk_size: int = 16 << 20,
        retries: int = 5,
        backoff: float = 0.2,
    ) -> None:
        self.client = client
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.chunk_size = chunk_size
        self.retries = retries
        self.backoff = backoff
        self._verified: dict[str, tuple[int, ...]] = {}  # cached path -> stat when hashed
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.client.url}/api/blobs"

    # -- uploads ---------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data`` (sent in chunks; nothing is sent when the server has it)."""
        view = memoryview(data)

        def read(start: int, end: int) -> Iterator[bytes]:
            for at in range(start, end, _READ):
                yield bytes(view[at : min(at + _READ, end)])

        return self._upload(hashlib.sha256(data).hexdigest(), len(data), read)

    def put_file(self, path: str | Path) -> Blob:
        """Store a local file: hashed first, then streamed in chunks (resumed after a
        dropped connection; nothing is sent when the server has the content)."""
        source = Path(path)
        if not source.is_file():
            raise NotFound(f"Cannot log artifact: {source} is not a file.")
        digest = _file_sha256(source)
        size = source.stat().st_size

        def read(start: int, end: int) -> Iterator[bytes]:
            with source.open("rb") as fh:
                fh.seek(start)
                left = end - start
                while left > 0:
                    chunk = fh.read(min(_READ, left))
                    if not chunk:
                        raise IntegrityError(
                            f"{source} shrank while it was being uploaded; nothing was "
                            "stored. Log it again."
                        )
                    left -= len(chunk)
                    yield chunk

        return self._upload(digest, size, read)

    def _upload(self, digest: str, size: int, read: Callable[[int, int], Iterator[bytes]]) -> Blob:
        for attempt in (1, 2):
            answer = self._retrying(
                lambda: self.client.post("/api/blobs/uploads", {"sha256": digest, "size": size})
            )
            if answer["stored"]:
                return Blob(digest, size)
            upload_id = str(answer["upload_id"])
            offset = int(answer["offset"])
            if offset:
                log.info("resuming the upload of sha256:%s at byte %d of %d", digest, offset, size)
            try:
                self._send(upload_id, digest, size, offset, read)
                done = f"/api/blobs/uploads/{upload_id}/complete"
                self._retrying(partial(self.client.post, done))
            except NotFound:  # another client completed the shared session (or it went stale)
                if attempt == 2:
                    raise
                continue
            except InvalidInput as exc:
                raise IntegrityError(
                    f"Upload of sha256:{digest} refused by the server: {exc}"
                ) from exc
            break
        return Blob(digest, size)

    def _send(
        self,
        upload_id: str,
        digest: str,
        size: int,
        offset: int,
        read: Callable[[int, int], Iterator[bytes]],
    ) -> None:
        """Send the bytes from ``offset`` on, chunk by chunk, resuming after failures."""
        path = f"/api/blobs/uploads/{upload_id}"
        failures = 0
        while offset < size:
            end = min(offset + self.chunk_size, size)
            headers = {**_BINARY, "Content-Length": str(end - offset)}
            try:
                answer = self.client.request(
                    "PUT", path, params={"offset": offset}, content=read(offset, end),
                    headers=headers,
                )  # fmt: skip
                offset = int(answer["offset"])
                failures = 0
            except (Unavailable, Conflict) as exc:
                failures += 1
                if failures > self.retries:
                    raise
                time.sleep(self.backoff * 2 ** (failures - 1))
                offset = int(self._retrying(lambda: self.client.get(path))["offset"])
                log.info(
                    "resuming the upload of sha256:%s at byte %d of %d after: %s",
                    digest, offset, size, exc,
                )  # fmt: skip

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """``call()``, tried again after a dropped connection or an overloaded server."""
        for attempt in range(self.retries + 1):
            try:
                return call()
            except Unavailable:
                if attempt == self.retries:
                    raise
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reads -----------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Whether the server stores a blob with this digest."""
        try:
            self._retrying(lambda: self.client.request("HEAD", self._blob(digest)))
        except NotFound:
            return False
        return True

    def get_bytes(self, digest: str) -> bytes:
        """The blob's content, verified against its digest (resumed with a Range request
        after a dropped connection, as :meth:`download` is)."""
        buffer = io.BytesIO()
        actual = self._receive(self._blob(digest), buffer)
        _verify(digest, actual, self.url)
        return buffer.getvalue()

    def download(self, digest: str, dest: str | Path) -> Path:
        """Stream a blob to a local file (resumed with a Range request after a dropped
        connection), verified; the file appears only when complete."""
        path = self._blob(digest)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with partial.open("wb") as out:
                actual = self._receive(path, out)
            _verify(digest, actual, self.url)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def _receive(self, path: str, out: IO[bytes]) -> str:
        """Write the blob to ``out`` as it arrives; the sha256 of what was written."""
        sink = _Sink(out)
        failures = 0
        with sink:
            while True:
                written = sink.written()
                headers = {"Range": f"bytes={written}-"} if written else {}
                try:
                    with self.client.stream("GET", path, headers=headers) as response:
                        if written and response.status_code != 206:
                            sink.restart()  # the server sent the whole blob again
                        for chunk in response.iter_bytes(_READ):
                            sink.write(chunk)
                    return sink.sha256()
                except Unavailable:
                    failures += 1
                    if failures > self.retries:
                        raise
                    time.sleep(self.backoff * 2 ** (failures - 1))
                    log.info("resuming the download of %s at byte %d", path, sink.written())

    def local_path(self, digest: str) -> Path:
        """A verified local copy in ``cache_dir`` (downloaded once, reused while unchanged:
        hashed again when its size, times or inode moved, a damaged copy downloaded again)."""
        check_digest(digest)
        if self.cache_dir is None:
            raise InvalidInput(f"Artifact store {self.url} is remote and has no cache folder.")
        cached = self.cache_dir / digest
        key = str(cached)
        with self._lock:
            known = self._verified.get(key)
        if cached.is_file() and known != _stat(key):
            before = _stat(key)
            if _file_sha256(cached) == digest:
                with self._lock:
                    self._verified[key] = before
            else:
                log.warning("cached copy %s was damaged; downloading it again", cached)
                cached.unlink(missing_ok=True)
        if not cached.is_file():
            self.download(digest, cached)
            with self._lock:
                self._verified[key] = _stat(key)
        return cached

    def _blob(self, digest: str) -> str:
        return f"/api/blobs/{check_digest(digest)}"

    def __repr__(self) -> str:
        return f"HttpArtifactStore({self.client.url!r})"


class _Sink:
    """Writes and hashes a download in a thread of its own, one chunk behind the network
    (file writes and sha256 release the GIL while the next chunk is received)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.hasher = hashlib.sha256()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="shipyard-download")
        self.pending: Future[None] | None = None

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *_: object) -> None:
        self.pool.shutdown(wait=True)

    def _put(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.hasher.update(chunk)

    def write(self, chunk: bytes) -> None:
        self.drain()
        self.pending = self.pool.submit(self._put, chunk)

    def drain(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def written(self) -> int:
        self.drain()
        return self.out.tell()

    def restart(self) -> None:
        self.drain()
        self.out.seek(0)
        self.out.truncate()
        self.hasher = hashlib.sha256()

    def sha256(self) -> str:
        self.drain()
        return self.hasher.hexdigest()


def _verify(digest: str, actual: str, where: str) -> None:
    if actual != digest:
        raise IntegrityError(
            f"Artifact sha256:{digest} from {where} is corrupt: its content hashes to {actual}. "
            "The server's copy was modified or damaged; restore it from a backup or log the "
            "artifact again."
        )


def _stat(path: str) -> tuple[int, ...]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_READ), b""):
            hasher.update(chunk)
    return hasher.hexdigest()

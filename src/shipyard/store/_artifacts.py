"""Content-addressed artifact store on a local folder or any fsspec URL."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from shipyard.errors import IntegrityError, InvalidInput, NotFound
from shipyard.store._blobs import Blob, BlobStore, check_digest

__all__ = ["ArtifactStore", "Blob"]

log = logging.getLogger("shipyard.store")

_CHUNK = 1 << 20
MARKS = "marks"  # folder of marks: content stored again, its blob kept from garbage collection


class ArtifactStore(BlobStore):
    """Blobs addressed by sha256: identical content is stored once.

    Content is written under a temporary name and renamed into place, so a crash never
    leaves a half-written blob visible. :meth:`get_bytes` and :meth:`download` re-hash on
    every read and raise :class:`~shipyard.errors.IntegrityError` on a mismatch;
    :meth:`local_path` hashes a file before handing it out and again whenever its size,
    modification time, change time or inode differ from when it was hashed. Storing content
    that is already stored hashes the stored copy and replaces it if it is corrupt, and
    leaves a mark (``marks/<digest>``) that keeps garbage collection off the blob for its
    grace period. ``url`` is a folder, or any fsspec URL (``s3://bucket/prefix``,
    ``memory://name``). Thread-safe.

    Example:
        >>> store = ArtifactStore("memory://doctest")
        >>> blob = store.put_bytes(b"hello")
        >>> store.get_bytes(blob.digest)
        b'hello'
    """

    def __init__(self, url: str | Path, cache_dir: str | Path | None = None) -> None:
        self.url = str(url)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._fs: Any = None
        self._root = ""
        self._verified: dict[str, tuple[int, ...]] = {}  # local path -> stat when hashed

    @property
    def fs(self) -> Any:
        """The fsspec filesystem behind the store."""
        if self._fs is None:
            import fsspec.core

            try:
                fs, root = fsspec.core.url_to_fs(self.url)
            except (ImportError, ValueError) as exc:
                raise InvalidInput(
                    f"SHIPYARD_ARTIFACTS_URL {self.url!r} cannot be opened: {exc}. Expected a "
                    "folder or an fsspec URL such as s3://bucket/prefix (with its fsspec "
                    "backend installed, e.g. s3fs)."
                ) from exc
            self._root = root.rstrip("/")
            self._fs = fs
        return self._fs

    @property
    def root(self) -> str:
        """The store's root path inside its filesystem."""
        _ = self.fs
        return self._root

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``; returns its blob (nothing is written when it is already stored)."""
        digest = hashlib.sha256(data).hexdigest()
        if not self._intact(digest, len(data)):
            self._commit(iter([data]), digest)
        return Blob(digest, len(data))

    def put_file(self, path: str | Path) -> Blob:
        """Store the content of a local file, hashing it while it streams into place."""
        source = Path(path)
        if not source.is_file():
            raise NotFound(f"Cannot log artifact: {source} is not a file.")
        hasher = hashlib.sha256()
        size = 0
        with source.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                hasher.update(chunk)
                size += len(chunk)
        digest = hasher.hexdigest()
        if not self._intact(digest, size):
            with source.open("rb") as fh:
                self._commit(iter(lambda: fh.read(_CHUNK), b""), digest)
        return Blob(digest, size)

    def claim(self, digest: str, size: int) -> bool:
        """Whether the blob is stored intact with ``size`` bytes; if so it is marked as
        stored again (kept from garbage collection for its grace period), as storing it
        again would. What an upload asks before sending anything."""
        return self._intact(check_digest(digest), size)

    def move_in(self, path: str | Path, digest: str) -> Blob:
        """Store a local file whose sha256 the caller computed, taking the file: renamed
        into place when the store is a local folder on the same filesystem (atomic, no
        copy), else streamed in and verified. The file is gone afterwards either way."""
        source = Path(path)
        size = source.stat().st_size
        try:
            stored = self._intact(check_digest(digest), size)
            if not stored and not (_is_local(self.fs) and self._rename_in(source, digest)):
                with source.open("rb") as fh:
                    self._commit(iter(lambda: fh.read(_CHUNK), b""), digest)
        finally:
            source.unlink(missing_ok=True)
        return Blob(digest, size)

    def _rename_in(self, source: Path, digest: str) -> bool:
        final = self._path(digest)
        Path(final).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, final)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            return False  # another filesystem: copied by the caller
        self._verified[final] = _stat(final)
        return True

    def size(self, digest: str) -> int:
        """The stored blob's size in bytes (NotFound when it is not stored)."""
        try:
            return int(self.fs.size(self._path(digest)))
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc

    def open(self, digest: str) -> IO[bytes]:
        """The stored blob opened for reading (not verified: readers hash what they read)."""
        return self._open(digest)

    def _intact(self, digest: str, size: int) -> bool:
        """Already stored intact (right size, right hash): then it is marked as stored again.

        A damaged copy (truncated, or the same size with other bytes) is reported and
        written again, which is what the corruption error advises."""
        path = self._path(digest)
        if not self.fs.exists(path):
            return False
        if int(self.fs.size(path)) != size:
            actual = f"{self.fs.size(path)} bytes instead of {size}"
        elif _is_local(self.fs) and self._unchanged(path):
            actual = None
        else:
            actual = self._hash(path)
            actual = None if actual == digest else f"content hashing to {actual}"
        if actual is not None:
            self._verified.pop(path, None)  # hashed, but not to its digest: never trusted
            log.warning(
                "artifact sha256:%s in %s was corrupt (%s); replacing it", digest, self.url, actual
            )
            return False
        self.fs.makedirs(f"{self.root}/{MARKS}", exist_ok=True)
        self.fs.pipe_file(f"{self.root}/{MARKS}/{digest}", b"")
        # Checked again after the mark: a collector that took the blob away before seeing
        # the mark has it written again here; one that sees the mark puts it back.
        return bool(self.fs.exists(path))

    def _hash(self, path: str) -> str:
        """sha256 of a stored file, streamed; on a local store its stat is remembered."""
        hasher = hashlib.sha256()
        before = _stat(path) if _is_local(self.fs) else None
        with self.fs.open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                hasher.update(chunk)
        if before is not None:
            self._verified[path] = before
        return hasher.hexdigest()

    def _unchanged(self, path: str) -> bool:
        """Hashed by this process and not touched since (same size, times and inode)."""
        known = self._verified.get(path)
        return known is not None and known == _stat(path)

    def exists(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        return bool(self.fs.exists(self._path(digest)))

    def get_bytes(self, digest: str) -> bytes:
        """The blob's content, verified against its digest."""
        with self._open(digest) as fh:
            data: bytes = fh.read()
        self._verify(digest, hashlib.sha256(data).hexdigest())
        return data

    def download(self, digest: str, dest: str | Path) -> Path:
        """Copy a blob to a local file, verified; the file appears only when complete."""
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        hasher = hashlib.sha256()
        try:
            with self._open(digest) as src, partial.open("wb") as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    hasher.update(chunk)
                    out.write(chunk)
            self._verify(digest, hasher.hexdigest())
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def local_path(self, digest: str) -> Path:
        """A local file with the blob's content, for engines that read paths (DuckDB, Arrow).

        On a local store it is the stored file itself; on a remote store, a verified copy in
        ``cache_dir``. The file is hashed before it is first handed out and again whenever
        its size, modification or change time or inode moved since (one ``stat`` per call
        otherwise): changed bytes raise :class:`~shipyard.errors.IntegrityError` rather than
        being read (a damaged cached copy is downloaded again).
        """
        if _is_local(self.fs):
            path = self._path(digest)
            if not Path(path).is_file():
                raise NotFound(
                    f"Artifact content sha256:{digest} is not in the artifact store at {self.url}."
                )
            if not self._unchanged(path):
                actual = self._hash(path)
                if actual != digest:
                    self._verified.pop(path, None)
                    self._verify(digest, actual)
            return Path(path)
        if self.cache_dir is None:
            raise InvalidInput(f"Artifact store {self.url} is remote and has no cache folder.")
        cached = self.cache_dir / digest
        key = str(cached)
        if cached.is_file() and not self._unchanged(key):
            before = _stat(key)
            if _file_sha256(cached) == digest:
                self._verified[key] = before
            else:
                log.warning("cached copy %s was damaged; downloading it again", cached)
                cached.unlink(missing_ok=True)
        if not cached.is_file():
            self.download(digest, cached)
            self._verified[key] = _stat(key)
        return cached

    def _commit(self, chunks: Iterator[bytes], digest: str) -> None:
        final = self._path(digest)
        temp = f"{self.root}/tmp/{uuid.uuid4().hex}"
        self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
        hasher = hashlib.sha256()
        try:
            with self.fs.open(temp, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != digest:
                raise IntegrityError(
                    f"Content changed while it was being stored (expected sha256 {digest}, "
                    f"read {hasher.hexdigest()}); nothing was stored. Log it again."
                )
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(temp, final)
            if _is_local(self.fs):
                self._verified[final] = _stat(final)
        finally:
            if self.fs.exists(temp):
                self.fs.rm(temp)

    def _open(self, digest: str) -> IO[bytes]:
        try:
            handle: IO[bytes] = self.fs.open(self._path(digest), "rb")
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc
        return handle

    def _missing(self, digest: str) -> NotFound:
        return NotFound(
            f"Artifact content sha256:{digest} is not in the artifact store at {self.url}."
        )

    def _verify(self, digest: str, actual: str) -> None:
        if actual != digest:
            raise IntegrityError(
                f"Artifact sha256:{digest} in {self.url} is corrupt: its content hashes to "
                f"{actual}. The stored copy was modified or damaged; restore it from a backup "
                "or log the artifact again."
            )

    def object_path(self, digest: str) -> str:
        """Where the blob ``digest`` lives inside :attr:`fs` (whether or not it exists)."""
        return self._path(digest)

    def _path(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.root}/objects/{digest[:2]}/{digest[2:4]}/{digest}"

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"


def _stat(path: str) -> tuple[int, ...]:
    """What a local file's content change moves: size, modification and change times, inode."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol

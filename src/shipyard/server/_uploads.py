"""Upload sessions of the blob routes: bytes on disk, resumable, verified before storing.

A session is two files in the uploads folder: ``<id>.json`` (the declared sha256 and size)
and ``<id>.part`` (the bytes received so far, in order). Both are on disk, so a session
outlives a dropped connection and a server restart: how many bytes the server has is the
size of the part file. One session per (sha256, size): a second client uploading the same
content joins the first's session (same bytes, same offsets). The sha256 of what arrived is
computed while it is written (kept in memory; computed again from the file after a restart
or a refused chunk) and checked when the session completes. Sessions untouched for
``stale_after`` seconds are removed when a session starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from shipyard.errors import Conflict, NotFound

__all__ = ["DAY", "Upload", "Uploads", "uploads_in"]

DAY = 86400.0
MAX_SESSIONS = 1000  # open at once: each start scans them, each holds two files
_CHUNK = 1 << 20


class Upload:
    """One session: what was declared, what arrived (the part file), the running hash."""

    def __init__(self, folder: Path, upload_id: str, digest: str, size: int) -> None:
        self.id = upload_id
        self.digest = digest
        self.size = size
        self.meta = folder / f"{upload_id}.json"
        self.part = folder / f"{upload_id}.part"
        self.lock = threading.Lock()
        self._hasher: Any = hashlib.sha256()
        self._hashed = 0  # bytes of the part file the running hash covers (-1: none)

    def received(self) -> int:
        """How many bytes the server has (the part file's size)."""
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """The session to oneself, or Conflict while another request writes to it."""
        if not self.lock.acquire(blocking=False):
            raise Conflict(
                f"upload {self.id}: another request is sending to it; ask how many bytes "
                f"arrived (GET /api/blobs/uploads/{self.id}) and retry."
            )
        try:
            yield
        finally:
            self.lock.release()

    def open(self) -> IO[bytes]:
        """The part file, for appending (hold the session)."""
        return self.part.open("ab")

    def append(self, out: IO[bytes], data: bytes) -> None:
        """Append ``data`` (blocking: run it in a worker thread, holding the session)."""
        before = out.tell()
        out.write(data)
        if self._hashed == before:
            self._hasher.update(data)
            self._hashed += len(data)

    def truncate(self, size: int) -> None:
        """Cut the part file back to ``size`` bytes (a refused chunk), forgetting the hash."""
        with self.part.open("r+b") as out:
            out.truncate(size)
        self._hashed = -1

    def sha256(self) -> str:
        """The sha256 of the bytes received (the running hash, or the file hashed again)."""
        if self._hashed == self.received():
            return str(self._hasher.hexdigest())
        hasher = hashlib.sha256()
        with self.part.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                hasher.update(chunk)
        return hasher.hexdigest()

    def touched(self) -> float:
        """When the session last changed (the newer of its two files)."""
        times = [p.stat().st_mtime for p in (self.meta, self.part) if p.exists()]
        return max(times, default=0.0)

    def state(self) -> dict[str, Any]:
        return {
            "upload_id": self.id,
            "sha256": self.digest,
            "size": self.size,
            "offset": self.received(),
            "stored": False,
        }


class Uploads:
    """The sessions of one uploads folder. Thread-safe."""

    def __init__(
        self, folder: Path, stale_after: float = DAY, max_sessions: int = MAX_SESSIONS
    ) -> None:
        self.folder = folder
        self.stale_after = stale_after
        self.max_sessions = max_sessions
        self._lock = threading.Lock()
        self._open: dict[str, Upload] = {}  # by id, loaded from disk on first use

    def start(self, digest: str, size: int) -> Upload:
        """The session for this content: the one already open (resumed), else a new one."""
        self.sweep()
        with self._lock:
            sessions = self._all()
            for upload in sessions:
                if upload.digest == digest and upload.size == size:
                    return upload
            if len(sessions) >= self.max_sessions:
                raise Conflict(
                    f"uploads: {len(sessions)} sessions are open, the most this server keeps; "
                    "complete or cancel some (DELETE /api/blobs/uploads/ID), or wait for stale "
                    "ones to be removed."
                )
            self.folder.mkdir(parents=True, exist_ok=True)
            upload = Upload(self.folder, uuid.uuid4().hex, digest, size)
            upload.part.touch()
            temp = upload.meta.with_suffix(".json.tmp")
            temp.write_text(json.dumps({"sha256": digest, "size": size}))
            temp.replace(upload.meta)
            self._open[upload.id] = upload
            return upload

    def promised(self, but: Upload) -> int:
        """Bytes the other open sessions still expect (declared minus received)."""
        with self._lock:
            sessions = self._all()
        return sum(max(u.size - u.received(), 0) for u in sessions if u.id != but.id)

    def get(self, upload_id: str) -> Upload:
        """The session ``upload_id`` (NotFound when unknown, completed or removed)."""
        with self._lock:
            upload = self._open.get(upload_id) or self._load(upload_id)
            if upload is None or not upload.meta.exists():
                self._open.pop(upload_id, None)
                raise NotFound(
                    f"upload {upload_id!r}: no such upload session (completed, cancelled or "
                    "removed as stale); start one with POST /api/blobs/uploads."
                )
            return upload

    def drop(self, upload: Upload) -> None:
        """Remove the session and what it received."""
        with self._lock:
            self._open.pop(upload.id, None)
            upload.meta.unlink(missing_ok=True)
            upload.part.unlink(missing_ok=True)

    def sweep(self, now: float | None = None) -> list[str]:
        """Remove the sessions untouched for ``stale_after`` seconds (not one being written
        to); their ids."""
        cutoff = (time.time() if now is None else now) - self.stale_after
        removed = []
        with self._lock:
            stale = [u for u in self._all() if u.touched() < cutoff]
        for upload in stale:
            if upload.lock.acquire(blocking=False):
                try:
                    self.drop(upload)
                    removed.append(upload.id)
                finally:
                    upload.lock.release()
        for orphan in self.folder.glob("*.part") if self.folder.is_dir() else ():
            if not orphan.with_suffix(".json").exists() and _mtime(orphan) < cutoff:
                orphan.unlink(missing_ok=True)  # its session was dropped mid-way
        return removed

    def _all(self) -> list[Upload]:
        if not self.folder.is_dir():
            return []
        found = []
        for meta in sorted(self.folder.glob("*.json")):
            upload = self._open.get(meta.stem) or self._load(meta.stem)
            if upload is not None:
                found.append(upload)
        return found

    def _load(self, upload_id: str) -> Upload | None:
        """A session left on disk (by a previous server process): its hash is recomputed
        from the file at completion."""
        meta = self.folder / f"{upload_id}.json"
        try:
            declared = json.loads(meta.read_text())
            upload = Upload(self.folder, upload_id, str(declared["sha256"]), int(declared["size"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        upload._hashed = -1
        self._open[upload_id] = upload
        return upload


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return float("inf")


_registries: dict[Path, Uploads] = {}
_registries_lock = threading.Lock()


def uploads_in(folder: Path) -> Uploads:
    """The sessions of ``folder`` (one registry per folder and process)."""
    with _registries_lock:
        found = _registries.get(folder)
        if found is None:
            found = _registries[folder] = Uploads(folder)
        return found

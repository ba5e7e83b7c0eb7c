"""Garbage collection: temporary files left by killed processes, and blobs nothing references.

Which blobs are referenced is read from the database itself, not from a list the capabilities
keep: every text, JSON and binary column of every table (reflected, so tables of capabilities
this process never imported, or of a later migration, count too) is scanned for sha256 hex
digests, the filter ``length >= 64`` running in the database. A capability that stores a
digest anywhere in its rows (a column, a JSON payload, a pickled record) is covered without
registering anything: forgetting cannot delete a referenced blob, at worst an unrelated
64-hex string keeps one. The scan's cost is one pass over long text values.

A blob is removed only when all hold: no row names it, its file and its mark
(``marks/<digest>``, left when content already stored is stored again) are older than the
grace period (an hour by default: a run writes its blobs before it records them), and it is
still unreferenced and unmarked after it has been moved aside into ``trash/`` (a writer that
saw the blob before the move left its mark first, so the second look sees it and the blob
is put back). Several collectors at once (users sharing a PostgreSQL store) only ever find a
file already gone. Trash left by a collector killed mid-way is put back at the next run.

Assumes the artifact store belongs to this metadata store alone: blobs referenced only by
another database sharing the same artifact URL would look unreferenced.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shipyard.store._artifacts import MARKS, ArtifactStore
from shipyard.store._db import Database

__all__ = ["Collection", "Garbage", "collect_garbage", "referenced_digests"]

HOUR = 3600.0
_DIGEST = re.compile(r"[0-9a-f]{64}")
_DIGEST_BYTES = re.compile(rb"[0-9a-f]{64}")


@dataclass(frozen=True)
class Garbage:
    """One file to remove: ``kind`` is ``temporary``, ``blob`` or ``mark``."""

    kind: str
    path: str
    size: int
    age: float  # seconds since it was last written


@dataclass
class Collection:
    """What a collection found (``removed`` is empty on a dry run), and what it kept."""

    found: list[Garbage] = field(default_factory=list)
    removed: list[Garbage] = field(default_factory=list)
    referenced: int = 0  # blobs kept because a row names them
    recent: int = 0  # unreferenced blobs kept because they (or their marks) are recent
    applied: bool = False

    @property
    def freed(self) -> int:
        """Bytes removed."""
        return sum(g.size for g in self.removed)

    @property
    def reclaimable(self) -> int:
        """Bytes found."""
        return sum(g.size for g in self.found)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``shipyard gc --json``)."""
        return {
            "applied": self.applied,
            "reclaimable_bytes": self.reclaimable,
            "freed_bytes": self.freed,
            "referenced_blobs": self.referenced,
            "recent_blobs": self.recent,
            "found": [g.__dict__ for g in self.found],
            "removed": [g.path for g in self.removed],
        }


def referenced_digests(database: Database) -> set[str]:
    """Every sha256 hex digest found in any long text, JSON or binary value of any table."""
    found: set[str] = set()
    with database.read() as conn:
        inspector = sa.inspect(conn)
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                if _may_hold(column["type"]):
                    found.update(_digests_in(conn, table, column["name"], column["type"]))
    return found


def _may_hold(kind: Any) -> bool:
    """Anything but numbers, booleans, times and short strings (unknown types included)."""
    if isinstance(kind, sa.String):
        return kind.length is None or kind.length >= 64
    skipped = (sa.Integer, sa.Float, sa.Numeric, sa.Boolean, sa.Date, sa.DateTime, sa.Time)
    return not isinstance(kind, (*skipped, sa.Interval))


def _digests_in(conn: sa.Connection, table: str, name: str, kind: Any) -> Iterable[str]:
    value: Any = sa.column(name)
    if not isinstance(kind, (sa.String, sa.LargeBinary)):
        value = sa.cast(value, sa.Text)
    query = (
        sa.select(value).distinct().select_from(sa.table(table)).where(sa.func.length(value) >= 64)
    )
    for (item,) in conn.execute(query):
        if isinstance(item, (bytes, bytearray, memoryview)):
            yield from (m.decode() for m in _DIGEST_BYTES.findall(bytes(item).lower()))
        elif item is not None:
            yield from _DIGEST.findall(str(item).lower())


def collect_garbage(
    database: Database,
    artifacts: ArtifactStore,
    temp_dirs: Sequence[Path] = (),
    *,
    older_than: float = HOUR,
    apply: bool = False,
) -> Collection:
    """Find (and with ``apply``, remove) temporary files and unreferenced blobs older than
    ``older_than`` seconds: files in ``temp_dirs`` and the store's ``tmp/``, blobs no row
    names (see the module docstring), and stale marks of blobs gone."""
    now = time.time()
    cutoff = now - older_than
    result = Collection(applied=apply)
    fs, root = artifacts.fs, artifacts.root
    if apply:
        _put_back(artifacts)  # what a killed collector left in the trash
    files = _listing(fs, f"{root}/objects")  # listed before the scan: rows added later count
    marks = {path.rsplit("/", 1)[-1]: info for path, info in _listing(fs, f"{root}/{MARKS}")}
    referenced = referenced_digests(database)
    for path, (size, mtime) in _local_files(temp_dirs) + _listing(fs, f"{root}/tmp"):
        if mtime < cutoff:
            result.found.append(Garbage("temporary", path, size, now - mtime))
    kept = set()
    for path, (size, mtime) in files:
        digest = path.rsplit("/", 1)[-1]
        if not _DIGEST.fullmatch(digest):
            continue  # not a blob's name: not ours to judge
        if digest in referenced:
            result.referenced += 1
        elif mtime >= cutoff or marks.get(digest, (0, 0.0))[1] >= cutoff:
            result.recent += 1
        else:
            result.found.append(Garbage("blob", path, size, now - mtime))
            continue
        kept.add(digest)
    for digest, (size, mtime) in marks.items():
        if mtime < cutoff and digest not in kept:  # a mark of a live blob stays (one file)
            result.found.append(Garbage("mark", f"{root}/{MARKS}/{digest}", size, now - mtime))
    if apply:
        _apply(database, artifacts, result, cutoff)
    return result


def _apply(database: Database, artifacts: ArtifactStore, result: Collection, cutoff: float) -> None:
    """Remove what was found: blobs through the trash, then marks of blobs now gone, then
    temporary files."""
    fs, root = artifacts.fs, artifacts.root
    trash = f"{root}/trash/{uuid.uuid4().hex}"
    blobs = [g for g in result.found if g.kind == "blob"]
    moved: list[tuple[Garbage, str]] = []
    if blobs:
        fs.makedirs(trash, exist_ok=True)
    for item in blobs:
        aside = f"{trash}/{item.path.rsplit('/', 1)[-1]}"
        if _quietly(lambda item=item, aside=aside: fs.mv(item.path, aside)):
            moved.append((item, aside))
    if moved:
        referenced = referenced_digests(database)  # the second look, after the move
        marks = dict(_listing(fs, f"{root}/{MARKS}"))
        for item, aside in moved:
            digest = item.path.rsplit("/", 1)[-1]
            mark = marks.get(f"{root}/{MARKS}/{digest}")
            if digest in referenced or (mark is not None and mark[1] >= cutoff):
                _restore(fs, aside, item.path)
            elif _quietly(lambda aside=aside: fs.rm(aside)):
                result.removed.append(item)
    if blobs and not _listing(fs, trash):  # anything left (a failed restore) waits there
        _quietly(lambda: fs.rm(trash, recursive=True))  # for the next collector to put back
    for item in result.found:
        digest = item.path.rsplit("/", 1)[-1]
        if item.kind == "mark" and fs.exists(artifacts.object_path(digest)):
            continue  # stored again since: its mark may be fresh protection
        if item.kind != "blob" and _remove(fs, root, item.path):
            result.removed.append(item)


def _put_back(artifacts: ArtifactStore) -> None:
    """Blobs moved aside by a collector that never finished go back where they were (a
    collector running now finds them gone, which it takes in its stride)."""
    for path, _ in _listing(artifacts.fs, f"{artifacts.root}/trash"):
        digest = path.rsplit("/", 1)[-1]
        if _DIGEST.fullmatch(digest):
            _restore(artifacts.fs, path, artifacts.object_path(digest))


def _restore(fs: Any, aside: str, final: str) -> None:
    if fs.exists(final):  # written again meanwhile: same content
        _quietly(lambda: fs.rm(aside))
        return
    _quietly(lambda: fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True))
    _quietly(lambda: fs.mv(aside, final))


def _remove(fs: Any, root: str, path: str) -> bool:
    """Remove one file: in the artifact store through its filesystem, else a local file."""
    if path.startswith(f"{root}/"):
        return _quietly(lambda: fs.rm(path))
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    return True


def _quietly(action: Any) -> bool:
    """Run a file operation another collector may have raced: a vanished file is no error."""
    try:
        action()
    except FileNotFoundError:
        return False
    return True


def _listing(fs: Any, folder: str) -> list[tuple[str, tuple[int, float]]]:
    """Files under ``folder``: path -> (size, modification time in epoch seconds)."""
    if not fs.exists(folder):
        return []
    found = fs.find(folder, detail=True)
    return sorted(
        (path, (int(info.get("size") or 0), _mtime(fs, path, info))) for path, info in found.items()
    )


def _mtime(fs: Any, path: str, info: dict[str, Any]) -> float:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return float(fs.modified(path).timestamp())


def _local_files(folders: Sequence[Path]) -> list[tuple[str, tuple[int, float]]]:
    out = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                out.append((str(path), (st.st_size, st.st_mtime)))
    return sorted(out)

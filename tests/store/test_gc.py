"""Garbage collection on a real store: temporary files and unreferenced blobs older than the
grace period go, referenced or recent blobs stay, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.config import get_settings, reset_settings
from shipyard.store import Database, collect_garbage, default_artifacts, default_database

HOUR = 3600.0
runner = CliRunner()


def _age(path: str | Path, seconds: float) -> None:
    """Make a file look ``seconds`` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _blob(digest: str) -> Path:
    return Path(default_artifacts().object_path(digest))


def _gc(home: Path, *, apply: bool = False, older_than: float = HOUR):  # type: ignore[no-untyped-def]
    return collect_garbage(
        default_database(), default_artifacts(), [home / "tmp"], older_than=older_than, apply=apply
    )


def _age_everything(home: Path) -> None:
    for path in (home / "artifacts").rglob("*"):
        if path.is_file():
            _age(path, 2 * HOUR)


def test_unreferenced_blobs_and_old_temporary_files_go_referenced_ones_stay(backend, home):
    frame = pd.DataFrame({"x": [1, 2, 3]})
    version = sy.datasets.register("tiny", frame)
    with sy.start_run(experiment="gc") as run:
        kept = run.log_text("kept", "kept.txt")
        gone = run.log_text("in a run deleted later", "gone.txt")
    with sy.start_run(experiment="gc") as doomed:
        only_here = doomed.log_text("only in the doomed run", "x.txt")
    sy.delete_run(doomed.id, purge=True)  # its blob is now unreferenced
    orphan = default_artifacts().put_bytes(b"stored, never recorded")
    named_in_text = default_artifacts().put_bytes(b"named by a tag")
    with sy.start_run(experiment="gc"):  # tags are free text: a digest in one keeps its blob
        sy.set_tag("weights", f"sha256:{named_in_text.digest}")
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    stale_temp, fresh_temp = home / "tmp" / "stale.parquet", home / "tmp" / "fresh.parquet"
    stale_temp.write_bytes(b"x" * 1000)
    fresh_temp.write_bytes(b"y")
    store_temp = home / "artifacts" / "tmp" / "partial"
    store_temp.parent.mkdir(parents=True, exist_ok=True)
    store_temp.write_bytes(b"z" * 500)
    _age_everything(home)
    _age(stale_temp, 2 * HOUR)
    recent = default_artifacts().put_bytes(b"written a moment ago, not recorded yet")

    dry = _gc(home)
    assert not dry.applied and dry.removed == []
    blobs = {Path(g.path).name for g in dry.found if g.kind == "blob"}
    assert blobs == {only_here.digest, orphan.digest}
    temps = {g.path for g in dry.found if g.kind == "temporary"}
    assert temps == {str(stale_temp), str(store_temp)}
    assert dry.recent == 1  # the blob written a moment ago
    assert _blob(orphan.digest).exists() and stale_temp.exists()  # a dry run removes nothing

    done = _gc(home, apply=True)
    assert {g.path for g in done.removed} == {g.path for g in dry.found}
    assert done.freed == dry.reclaimable > 1500
    assert not _blob(orphan.digest).exists() and not _blob(only_here.digest).exists()
    assert not stale_temp.exists() and not store_temp.exists() and fresh_temp.exists()
    for digest in (kept.digest, gone.digest, named_in_text.digest, recent.digest):
        assert _blob(digest).exists()
    assert sy.load_artifact(run.id, "kept.txt") == "kept"
    assert sy.datasets.get("tiny@1").to_pandas().equals(frame)
    assert version.profile().rows == 3
    assert _gc(home, apply=True).found == []  # nothing left to find


def test_a_blob_stored_again_is_kept_for_the_grace_period(home):
    blob = default_artifacts().put_bytes(b"old content, stored again by a new run")
    _age_everything(home)
    default_artifacts().put_bytes(b"old content, stored again by a new run")  # leaves a mark
    assert _gc(home, apply=True).removed == []
    assert _blob(blob.digest).exists()

    _age_everything(home)  # the run never recorded it, and the hour passed
    removed = {(g.kind, Path(g.path).name) for g in _gc(home, apply=True).removed}
    assert removed == {("blob", blob.digest), ("mark", blob.digest)}


def test_a_killed_collectors_trash_is_put_back(home):
    blob = default_artifacts().put_bytes(b"referenced after all")
    with sy.start_run(experiment="gc"):
        sy.set_tag("ref", blob.digest)
    trash = home / "artifacts" / "trash" / "killed"
    trash.mkdir(parents=True)
    _blob(blob.digest).rename(trash / blob.digest)
    _gc(home, apply=True)
    assert _blob(blob.digest).read_bytes() == b"referenced after all"
    assert not any(p.is_file() for p in (home / "artifacts" / "trash").rglob("*"))


def test_the_command_is_a_dry_run_until_yes(home):
    orphan = default_artifacts().put_bytes(b"nobody's")
    _age_everything(home)

    assert " gc " in runner.invoke(app, ["--help"], env={"COLUMNS": "160"}).output
    listed = runner.invoke(app, ["gc"], env={"COLUMNS": "160"})
    assert listed.exit_code == 0, listed.output
    assert "dry run" in listed.output and "--yes" in listed.output
    assert _blob(orphan.digest).exists()

    as_json = json.loads(runner.invoke(app, ["gc", "--json"]).output)
    assert as_json["applied"] is False and as_json["reclaimable_bytes"] == len(b"nobody's")

    kept = runner.invoke(app, ["gc", "--yes", "--older-than", "3h"], env={"COLUMNS": "160"})
    assert kept.exit_code == 0 and "Freed 0 B" in kept.output and _blob(orphan.digest).exists()
    freed = runner.invoke(app, ["gc", "--yes"], env={"COLUMNS": "160"})
    assert freed.exit_code == 0 and "Freed 8 B in 1 files" in freed.output
    assert not _blob(orphan.digest).exists()

    bad = runner.invoke(app, ["gc", "--older-than", "soon"])
    assert bad.exit_code == 1 and "--older-than 'soon' is not a duration" in bad.output


def test_two_collectors_at_once_remove_each_orphan_once_and_nothing_referenced(backend, home):
    orphans = {default_artifacts().put_bytes(f"orphan {i}".encode()).digest for i in range(30)}
    with sy.start_run(experiment="gc") as run:
        for i in range(10):
            run.log_text(f"kept {i}", f"kept-{i}.txt")
    _age_everything(home)
    results, errors = [], []
    start = threading.Barrier(2)

    def collect() -> None:
        start.wait()
        try:
            results.append(_gc(home, apply=True))
        except Exception as exc:  # pragma: no cover - the failure is the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=collect) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    removed = [Path(g.path).name for r in results for g in r.removed if g.kind == "blob"]
    assert sorted(removed) == sorted(orphans)  # each once, by one collector or the other
    assert [sy.load_artifact(run.id, f"kept-{i}.txt") for i in range(10)] == [
        f"kept {i}" for i in range(10)
    ]


class _LateWriter(Database):
    """The real store; ``late`` runs just before the collector's second look (the writer
    that raced it), on the second scan of the references."""

    def __init__(self, url: str, late: Callable[[], None]) -> None:
        super().__init__(url)
        self.late, self.reads = late, 0

    @contextmanager
    def read(self) -> Iterator[object]:  # type: ignore[override]
        self.reads += 1
        if self.reads == 2:
            self.late()
        with super().read() as conn:
            yield conn


@pytest.mark.parametrize("writer", ["records it", "stored it again"])
def test_a_blob_a_writer_takes_up_during_the_collection_is_put_back(home, writer):
    blob = default_artifacts().put_bytes(b"taken up again while the collector runs")
    _age_everything(home)

    def late() -> None:
        if writer == "records it":
            with sy.start_run(experiment="gc"):
                sy.set_tag("ref", blob.digest)
        else:  # its mark came first, its look at the blob before the collector moved it
            marks = home / "artifacts" / "marks"
            marks.mkdir(exist_ok=True)
            (marks / blob.digest).write_bytes(b"")

    database = _LateWriter(get_settings().db_url, late)
    try:
        found = collect_garbage(database, default_artifacts(), apply=True)
    finally:
        database.dispose()
    assert database.reads == 2 and [g.kind for g in found.found] == ["blob"]
    assert found.removed == []
    assert _blob(blob.digest).read_bytes() == b"taken up again while the collector runs"


def test_collection_on_an_object_store(home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"memory://gc-{time.time_ns()}")
    reset_settings()
    store = default_artifacts()
    with sy.start_run(experiment="gc") as run:
        run.log_text("kept", "kept.txt")
    orphan = store.put_bytes(b"nobody's, in an object store")
    store.fs.pipe_file(f"{store.root}/tmp/partial", b"x" * 10)
    time.sleep(0.01)

    found = collect_garbage(default_database(), store, older_than=0.001, apply=True)
    assert sorted(g.kind for g in found.removed) == ["blob", "temporary"]
    assert not store.exists(orphan.digest)
    assert sy.load_artifact(run.id, "kept.txt") == "kept"
    store.fs.rm(store.root, recursive=True)

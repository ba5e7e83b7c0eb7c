"""The content-addressed artifact store, on a local folder and on fsspec's memory://."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.errors import IntegrityError, InvalidInput, NotFound
from shipyard.store import ArtifactStore, Blob


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    """An empty artifact store on each kind of location."""
    if request.param == "local":
        yield ArtifactStore(tmp_path / "artifacts")
        return
    store = ArtifactStore(f"memory://shipyard-test-{uuid.uuid4().hex}")
    yield store
    if store.fs.exists(store.root):
        store.fs.rm(store.root, recursive=True)


def stored_files(store: ArtifactStore) -> list[str]:
    """Every file under the store's root, whatever its role."""
    if not store.fs.exists(store.root):
        return []
    return sorted(store.fs.find(store.root))


def object_file(store: ArtifactStore, digest: str) -> str:
    (path,) = [p for p in stored_files(store) if p.endswith(digest) and "/objects/" in p]
    return path


def test_identical_content_is_stored_once(store, tmp_path):
    data = b"the same bytes" * 1000
    first = store.put_bytes(data)
    second = store.put_bytes(data)
    source = tmp_path / "same.bin"
    source.write_bytes(data)
    third = store.put_file(source)

    expected = hashlib.sha256(data).hexdigest()
    assert first == second == third == Blob(expected, len(data))
    mark = f"{store.root}/marks/{expected}"  # stored again: kept from garbage collection
    assert stored_files(store) == sorted([object_file(store, expected), mark])

    store.put_bytes(b"other bytes")
    assert len(stored_files(store)) == 3


def test_round_trip_and_download(store, tmp_path):
    data = bytes(range(256)) * 5000  # more than one read chunk
    blob = store.put_bytes(data)
    assert store.exists(blob.digest)
    assert store.get_bytes(blob.digest) == data
    target = store.download(blob.digest, tmp_path / "out" / "copy.bin")
    assert target == tmp_path / "out" / "copy.bin"
    assert target.read_bytes() == data
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.bin"]


def test_writes_leave_no_temporary_files(store, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (3 << 20))
    digests = {store.put_bytes(b"a").digest, store.put_file(source).digest}
    files = stored_files(store)
    assert len(files) == 2
    assert {f.rsplit("/", 1)[1] for f in files} == digests


def test_a_temporary_file_left_by_a_crash_is_invisible(store):
    half_written = b"half of a blob that never got rena"
    digest = hashlib.sha256(half_written).hexdigest()
    store.fs.makedirs(f"{store.root}/tmp", exist_ok=True)
    store.fs.pipe_file(f"{store.root}/tmp/{uuid.uuid4().hex}", half_written)

    assert not store.exists(digest)
    with pytest.raises(NotFound):
        store.get_bytes(digest)
    blob = store.put_bytes(half_written)  # storing it for real works
    assert blob.digest == digest
    assert store.get_bytes(digest) == half_written
    other = store.put_bytes(b"more")
    assert store.get_bytes(other.digest) == b"more"


def test_a_reader_never_sees_a_partial_object(tmp_path):
    """While a large file streams in, its object path is absent or complete, never partial."""
    store = ArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * (48 << 12))  # 48 MiB, written 1 MiB at a time
    size = source.stat().st_size
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    final = tmp_path / "artifacts" / "objects" / digest[:2] / digest[2:4] / digest
    sizes: set[int] = set()
    temp_seen = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            with contextlib.suppress(FileNotFoundError):
                sizes.add(final.stat().st_size)
            temp = tmp_path / "artifacts" / "tmp"
            if temp.is_dir() and any(temp.iterdir()):
                temp_seen.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        store.put_file(source)
    finally:
        done.set()
        watcher.join()
    assert sizes <= {size}
    assert final.stat().st_size == size
    assert temp_seen.is_set()  # the content went through a temporary file
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    data = b"cannot be renamed into place"
    digest = hashlib.sha256(data).hexdigest()
    # A file where the object's folder should be: the final rename step fails.
    blocker = tmp_path / "artifacts" / "objects" / digest[:2]
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"")
    with pytest.raises(OSError):
        store.put_bytes(data)
    assert not store.exists(digest)
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_corrupt_content_is_detected_on_every_read(store, tmp_path, damage):
    data = b"model weights" * 10_000
    blob = store.put_bytes(data)
    path = object_file(store, blob.digest)
    if damage == "flip":
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0xFF
        store.fs.pipe_file(path, bytes(bad))
    elif damage == "truncate":
        store.fs.pipe_file(path, data[:-1])
    else:
        store.fs.pipe_file(path, data + b"!")

    with pytest.raises(IntegrityError) as info:
        store.get_bytes(blob.digest)
    assert blob.digest in str(info.value)
    assert "corrupt" in str(info.value)

    dest = tmp_path / "downloads" / "model.bin"
    with pytest.raises(IntegrityError):
        store.download(blob.digest, dest)
    assert list(dest.parent.iterdir()) == []  # no partial file, no final file


def test_a_corrupt_download_keeps_an_existing_file(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    blob = store.put_bytes(b"good")
    store.fs.pipe_file(object_file(store, blob.digest), b"evil")
    dest = tmp_path / "dest.txt"
    dest.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        store.download(blob.digest, dest)
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "dest.txt"]


def test_missing_content_is_not_found(store, tmp_path):
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(digest)
    with pytest.raises(NotFound) as info:
        store.get_bytes(digest)
    assert digest in str(info.value)
    with pytest.raises(NotFound):
        store.download(digest, tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_missing_source_file_is_not_found(store, tmp_path):
    with pytest.raises(NotFound):
        store.put_file(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "abc",
        "A" * 64,
        "g" * 64,
        "0" * 63,
        "0" * 65,
        "../" * 21 + "x",
        hashlib.sha256(b"x").hexdigest().upper(),
    ],
)
def test_malformed_digest_is_invalid_input(store, tmp_path, digest):
    for call in (
        lambda: store.exists(digest),
        lambda: store.get_bytes(digest),
        lambda: store.download(digest, tmp_path / "out.bin"),
    ):
        with pytest.raises(InvalidInput) as info:
            call()
        assert "sha256" in str(info.value)
    assert not (tmp_path / "out.bin").exists()


def test_memory_stores_with_different_names_are_separate():
    one = ArtifactStore(f"memory://shipyard-test-{uuid.uuid4().hex}")
    two = ArtifactStore(f"memory://shipyard-test-{uuid.uuid4().hex}")
    blob = one.put_bytes(b"only in one")
    try:
        assert one.get_bytes(blob.digest) == b"only in one"
        assert not two.exists(blob.digest)
    finally:
        one.fs.rm(one.root, recursive=True)


@pytest.mark.parametrize("how", ["bytes", "file"])
def test_storing_content_again_replaces_a_same_size_corrupt_copy(store, tmp_path, how):
    data = b"model weights" * 10_000
    blob = store.put_bytes(data)
    path = object_file(store, blob.digest)
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF  # same size: a size check alone cannot see it
    store.fs.pipe_file(path, bytes(bad))
    with pytest.raises(IntegrityError, match="log the artifact again"):
        store.get_bytes(blob.digest)

    if how == "bytes":
        again = store.put_bytes(data)
    else:
        source = tmp_path / "weights.bin"
        source.write_bytes(data)
        again = store.put_file(source)

    assert again == blob
    assert store.get_bytes(blob.digest) == data  # repaired
    assert [p for p in stored_files(store) if p.startswith(f"{store.root}/tmp/")] == []


def test_a_local_file_changed_after_it_was_read_is_refused(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    data = b"a,b\n1,2\n" * 1000
    blob = store.put_bytes(data)
    path = store.local_path(blob.digest)
    assert path.read_bytes() == data
    bad = bytearray(data)
    bad[10] ^= 0x01  # same size, same second: only mtime_ns/ctime differ
    path.write_bytes(bytes(bad))

    with pytest.raises(IntegrityError, match=blob.digest):
        store.local_path(blob.digest)
    with pytest.raises(IntegrityError):  # and on every later call, not just once
        store.local_path(blob.digest)

    store.put_bytes(data)  # logging it again repairs it
    assert store.local_path(blob.digest).read_bytes() == data


def test_an_unchanged_local_file_is_hashed_once(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path / "artifacts")
    blob = store.put_bytes(b"x" * 100)
    opened: list[str] = []
    real_open = store.fs.open

    def counting_open(path: str, mode: str = "rb", **kwargs: object) -> object:
        opened.append(path)
        return real_open(path, mode, **kwargs)

    monkeypatch.setattr(store.fs, "open", counting_open)
    for _ in range(3):
        store.local_path(blob.digest)
    assert opened == []  # hashed when written; only a stat per call since


def test_a_damaged_cached_copy_of_a_remote_blob_is_fetched_again(tmp_path):
    store = ArtifactStore(f"memory://shipyard-test-{uuid.uuid4().hex}", cache_dir=tmp_path)
    data = b"remote" * 1000
    blob = store.put_bytes(data)
    cached = store.local_path(blob.digest)
    cached.write_bytes(b"R" + data[1:])
    assert store.local_path(blob.digest).read_bytes() == data
    store.fs.rm(store.root, recursive=True)

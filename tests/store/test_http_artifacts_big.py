"""A 1 GB artifact up to a real platform server and back: streamed both ways, so the client's
and the server's peak memory stay far below the file's size."""

from __future__ import annotations

import hashlib
import random
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest

from shipyard.store import HttpArtifactStore, default_artifacts

SIZE = 1 << 30
LIMIT = 64 << 20  # memory a transfer may add on either side (the file is 1,024 MB)
MB = 1 << 20


def _server_pid(url: str) -> int:
    """The pid of the platform server child process serving ``url`` (its port is in its
    command line)."""
    port = url.rsplit(":", 1)[1]
    children = []
    for task in Path("/proc/self/task").iterdir():
        children += (task / "children").read_text().split()
    for pid in children:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if port.encode() in argv:
            return int(pid)
    raise AssertionError(f"no child process serves {url}")


def _peak_rss(pid: int | str) -> int:
    """The process's peak resident memory since its last reset (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _reset_peak(pid: int | str) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current RSS


def _write_big_file(path: Path) -> str:
    """SIZE bytes of seeded pseudo-random content, written a megabyte at a time; its sha256."""
    block = bytearray(random.Random(19).randbytes(MB))
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(SIZE // MB):
            block[:8] = i.to_bytes(8, "little")  # every megabyte differs
            out.write(block)
            hasher.update(block)
    return hasher.hexdigest()


@pytest.mark.slow
def test_one_gigabyte_round_trip_in_bounded_memory(remote: str, tmp_path: Path) -> None:
    if shutil.disk_usage(tmp_path).free < 4 * SIZE:
        pytest.skip("needs 4 GB free on the temporary folder's disk")
    source = tmp_path / "big.bin"
    digest = _write_big_file(source)
    store = default_artifacts()
    assert isinstance(store, HttpArtifactStore)
    server = _server_pid(remote)
    _reset_peak(server)
    _reset_peak("self")
    base_rss, server_base = _peak_rss("self"), _peak_rss(server)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        blob = store.put_file(source)
        uploaded = time.perf_counter()
        target = store.download(digest, tmp_path / "copy.bin")
        downloaded = time.perf_counter()
        _, client_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    client_rss = _peak_rss("self") - base_rss
    server_peak = _peak_rss(server)
    server_rss = server_peak - server_base  # what the transfer added to the running server
    source.unlink()
    assert blob.digest == digest and blob.size == SIZE
    assert target.stat().st_size == SIZE  # download() verified the sha256 before renaming
    print(
        f"\n1 GB: upload {uploaded - started:.1f} s (hashing included), download "
        f"{downloaded - uploaded:.1f} s; client peak: python {client_peak / MB:.1f} MB, "
        f"RSS growth {client_rss / MB:.1f} MB; server peak RSS {server_peak / MB:.1f} MB "
        f"(growth {server_rss / MB:.1f} MB)"
    )
    assert client_peak < LIMIT and client_rss < LIMIT
    assert server_rss < LIMIT
    target.unlink()

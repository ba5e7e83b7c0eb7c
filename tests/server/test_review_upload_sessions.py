"""Upload sessions are bounded: every start scans the open sessions (each start took
longer as an editor opened thousands: 1,500 sessions took 45 s to open, quadratically),
and declared sizes were checked against the free disk one at a time, so many sessions
could together promise far more than the disk holds."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
import pytest

from shipyard.errors import Conflict
from shipyard.server import create_app
from shipyard.server._uploads import Uploads
from shipyard.serving import background


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def test_open_sessions_are_capped_but_joining_one_is_not(tmp_path: Path) -> None:
    uploads = Uploads(tmp_path / "uploads", max_sessions=3)
    first = uploads.start(_sha(0), 10)
    for n in (1, 2):
        uploads.start(_sha(n), 10)
    with pytest.raises(Conflict, match="3 sessions are open"):
        uploads.start(_sha(3), 10)
    assert uploads.start(_sha(0), 10).id == first.id  # the same content joins its session
    uploads.drop(first)
    uploads.start(_sha(3), 10)


def test_sessions_together_may_not_promise_more_than_the_free_disk(home: Path) -> None:
    with background(create_app()) as url:
        free = shutil.disk_usage(home.parent).free
        size = int(free * 0.6)
        first = httpx.post(f"{url}/api/blobs/uploads", json={"sha256": _sha(1), "size": size})
        assert first.status_code == 200, first.text
        second = httpx.post(f"{url}/api/blobs/uploads", json={"sha256": _sha(2), "size": size})
        assert second.status_code == 413, second.text
        assert "promised to other uploads" in second.json()["error"]
        assert httpx.delete(f"{url}/api/blobs/uploads/{first.json()['upload_id']}").is_success
        again = httpx.post(f"{url}/api/blobs/uploads", json={"sha256": _sha(2), "size": size})
        assert again.status_code == 200, again.text

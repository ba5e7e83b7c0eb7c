"""A skops artifact builds every type of its record's ``trusted`` list, and the registrant
writes that record: over the platform server any editor could register a version whose
list names ``posix.system`` and whose file calls it, then run code on the server (the
export route loads the native model) or on whoever loads the version. Such a version is
now refused like an untrusted pickle."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
import skops.io as sio

import shipyard as sy
from shipyard.errors import Forbidden
from shipyard.server import create_app
from shipyard.serving import background


def _calling_system(command: str) -> bytes:
    """A skops file that calls ``os.system(command)`` when loaded with ``posix.system``
    trusted."""
    plain = zipfile.ZipFile(io.BytesIO(sio.dumps((command,))))
    args = json.loads(plain.read("schema.json"))
    schema = {
        "__class__": "system",
        "__module__": "posix",
        "__loader__": "ConstructorFromReduceNode",
        "content": args,
        "protocol": args["protocol"],
        "_skops_version": args["_skops_version"],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as planted:
        for name in plain.namelist():
            text = json.dumps(schema) if name == "schema.json" else plain.read(name)
            planted.writestr(name, text)
    return out.getvalue()


def test_a_skops_record_trusting_functions_is_refused_on_the_server_and_on_load(
    home: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    data = _calling_system(f"touch {marker}")
    digest = hashlib.sha256(data).hexdigest()
    record = {
        "flavor": "sklearn", "digest": digest, "size": len(data),
        "flavor_meta": {"format": "skops", "trusted": ["posix.system"]},
        "signature": None, "environment": {}, "sample_digest": None, "metrics": {},
        "run_id": None, "source_commit": None, "created_by": "mallory",
        "description": None, "tags": {}, "datasets": [], "aliases": [], "stage": "none",
        "reason": None,
    }  # fmt: skip
    with background(create_app()) as url, httpx.Client(base_url=url) as client:
        started = client.post("/api/blobs/uploads", json={"sha256": digest, "size": len(data)})
        upload = started.json()["upload_id"]
        binary = {"Content-Type": "application/octet-stream"}
        client.put(f"/api/blobs/uploads/{upload}?offset=0", content=data, headers=binary)
        assert client.post(f"/api/blobs/uploads/{upload}/complete").status_code == 200
        assert client.post("/api/models/planted/versions", json=record).status_code == 201
        export = client.post("/api/models/planted/versions/1/export", json={})
        assert export.status_code == 403, export.text
        assert "posix.system" in export.json()["error"]
    with pytest.raises(Forbidden, match="planted@1 builds types its registrant 'mallory'"):
        sy.models.load("planted@1")
    assert not marker.exists()


def test_a_model_with_only_safe_types_loads_unasked(home: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    version = sy.models.register("plain", model)
    sy.models.clear_cache()
    from shipyard.models._trust import is_pickled

    assert version.flavor_meta["format"] == "skops" and not is_pickled(version)

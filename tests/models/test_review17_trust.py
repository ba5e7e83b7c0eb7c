"""Review of issue 17: the trust check asks the flavor, not the record's own claim.

The generic Python flavor unpickles whatever its ``flavor_meta`` says; the trust check
looked only at ``flavor_meta["format"]``. A registrant who writes the store (the trust
model's adversary: the registrant's name is unauthenticated) could record a Python-flavor
version as ``"format": "skops"`` and have it unpickled by ``sy.models.load`` with no trust.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.errors import Forbidden
from shipyard.models import _trust

RAN: list[str] = []


def _ran(tag: str) -> Planted:
    RAN.append(tag)
    return Planted(tag)


class Planted(sy.models.PythonModel):
    """Notes in RAN whenever it is unpickled: its code ran on the loading side."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_ran, (self.tag,))

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(df))


@pytest.mark.parametrize("claimed", [{"format": "skops"}, {}])
def test_a_python_flavor_version_claiming_another_format_still_needs_trust(
    home: Path, monkeypatch: pytest.MonkeyPatch, claimed: dict[str, str]
) -> None:
    monkeypatch.setenv("SHIPYARD_USER", "mallory")
    monkeypatch.delenv("SHIPYARD_TRUSTED_REGISTRANTS", raising=False)
    version = sy.models.register("planted", Planted("x"), X=pd.DataFrame({"x": [0.0, 1.0]}))
    assert version.flavor == "python"
    with sqlite3.connect(home / "shipyard.db") as db:  # mallory edits her own record
        (meta,) = db.execute(
            "SELECT flavor_meta FROM model_versions WHERE id = ?", (version.id,)
        ).fetchone()
        edited = {k: v for k, v in json.loads(meta).items() if k != "format"} | claimed
        db.execute(
            "UPDATE model_versions SET flavor_meta = ? WHERE id = ?",
            (json.dumps(edited), version.id),
        )
    _trust._registered_here.discard(version.id)  # as in another process
    sy.models.clear_cache()
    RAN.clear()
    with pytest.raises(Forbidden, match="planted@1 is a pickle registered by 'mallory'"):
        sy.models.load("planted@1")
    assert RAN == []
    assert sy.models.load("planted@1", trusted=True).predict({"x": 1.0}).tolist() == [0.0]
    assert RAN == ["x"]

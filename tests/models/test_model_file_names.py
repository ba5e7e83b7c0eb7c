"""A PythonModel's files are copied under the names its record holds: a record edited to
name a file ``../../x`` (or a key with a folder in it) must not write outside the copy's
folder; the load is refused as a changed record instead (issue 17 review)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.errors import IntegrityError


class Reader(sy.models.PythonModel):
    def load(self, artifacts: dict[str, Path]) -> None:
        self.text = Path(artifacts["table"]).read_text()

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(df))


@pytest.mark.parametrize(
    ("key", "filename"),
    [("table", "../../../escaped.txt"), ("table", "/tmp/escaped.txt"), ("../up", "t.json")],
)
def test_a_file_name_with_a_folder_in_its_record_is_refused(
    home: Path, tmp_path: Path, key: str, filename: str
) -> None:
    source = tmp_path / "table.json"
    source.write_text("{}")
    version = sy.models.register(
        "reader", Reader(), X=pd.DataFrame({"x": [0.0, 1.0]}), artifacts={"table": source}
    )
    with sqlite3.connect(home / "shipyard.db") as db:
        (meta,) = db.execute(
            "SELECT flavor_meta FROM model_versions WHERE id = ?", (version.id,)
        ).fetchone()
        meta = json.loads(meta)
        entry = meta["artifacts"].pop("table")
        meta["artifacts"][key] = {**entry, "filename": filename}
        db.execute(
            "UPDATE model_versions SET flavor_meta = ? WHERE id = ?",
            (json.dumps(meta), version.id),
        )
    sy.models.clear_cache()
    before = {p for p in home.rglob("*")}
    with pytest.raises(IntegrityError, match="must be plain names"):
        sy.models.load("reader@1", trusted=True)
    assert {p for p in home.rglob("*")} == before  # nothing written anywhere
    assert not Path("/tmp/escaped.txt").exists()

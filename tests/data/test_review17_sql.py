"""Review of issue 17: DuckDB keeps its temp directory reachable with external access off,
and by default that is ``.tmp`` in the working directory, so dataset SQL could read and
write any file there (a project's ``.tmp/`` of credentials or scratch data)."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import InvalidInput


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('.tmp/creds.csv')",
        "SELECT * FROM glob('.tmp/*')",
        "COPY (SELECT count(*) AS n FROM loans@1) TO '.tmp/written.csv'",
    ],
)
def test_sql_cannot_reach_the_working_directorys_tmp(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql: str
) -> None:
    sy.datasets.register("loans", make_loans(200, seed=3))
    work = tmp_path / "project"
    (work / ".tmp").mkdir(parents=True)
    (work / ".tmp" / "creds.csv").write_text("key,value\napi,SECRET\n")
    monkeypatch.chdir(work)
    try:
        found = sy.datasets.query(sql)
    except InvalidInput as exc:
        assert "external_access=True" in str(exc)
    else:  # glob of a directory it may not list may answer nothing, never a file
        assert found.empty, found.to_dict("records")
    assert sorted(p.name for p in (work / ".tmp").iterdir()) == ["creds.csv"]
    assert sy.datasets.query("SELECT count(*) AS n FROM loans@1")["n"].tolist() == [200]

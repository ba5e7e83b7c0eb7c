"""The datasets workflows in both modes (``mode``: a local store, then a platform server
through ``SHIPYARD_URL``): the same calls give the same results.

The remote server is shared by the tests of this module, so each test names its datasets
uniquely (``name``)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest

import shipyard as sy
from shipyard.data import Schema, make_loans
from shipyard.errors import InvalidInput, NotFound


@pytest.fixture
def name(mode: str) -> str:
    """A dataset name no other test of the module uses."""
    return f"loans_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(600, seed=5)


def test_register_load_and_reference(mode: str, name: str, loans: pd.DataFrame) -> None:
    v1 = sy.datasets.register(name, loans, description="first", tags={"source": "gen"})
    assert (v1.version, v1.rows, v1.columns) == (1, 600, loans.shape[1])
    again = sy.datasets.register(name, loans)  # identical content: the same version
    assert again.id == v1.id
    v2 = sy.datasets.register(name, loans.head(100), aliases=["small"])
    back = sy.datasets.get(f"{name}@1").to_pandas()
    pd.testing.assert_frame_equal(back, loans.astype({"applied_at": "datetime64[ms]"}))
    assert sy.datasets.get(name).id == v2.id
    assert sy.datasets.get(f"{name}@small").id == v2.id
    assert sy.datasets.get(f"{name}@v1").tags == {"source": "gen"}
    assert sy.datasets.get(f"{name}@latest").scan().aggregate("count(*)").fetchall() == [(100,)]
    assert [v.version for v in sy.datasets.versions(name)] == [2, 1]
    assert sy.datasets.versions(name)[1].description == "first"
    found = {d.name: d for d in sy.datasets.list_datasets()}
    assert (found[name].versions, found[name].latest, found[name].policy) == (2, 2, "warn")
    assert abs(found[name].created_at - v1.created_at) < 5


def test_register_a_file(mode: str, name: str, loans: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "loans.parquet"
    loans.head(50).to_parquet(path)
    made = sy.datasets.register(name, path)
    assert made.rows == 50 and sy.datasets.get(name).to_pandas().shape == (50, loans.shape[1])


def test_schema_policy_validation_and_accept(
    mode: str, name: str, loans: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    first = sy.datasets.register(name, loans)
    schema = sy.datasets.schema(name)
    assert isinstance(schema, Schema) and first.schema() == schema
    broken = loans.drop(columns=["income"])
    report = sy.datasets.validate(broken, against=name)
    assert not report.ok and "income" in report.summary()
    assert sy.datasets.validate(f"{name}@1", against=name).ok
    sy.datasets.set_policy(name, "reject")
    with pytest.raises(InvalidInput, match="rejected by its schema"):
        sy.datasets.register(name, broken)
    assert [v.version for v in sy.datasets.versions(name)] == [1]
    sy.datasets.set_policy(name, "warn")
    with caplog.at_level(logging.WARNING, logger="shipyard.data"):
        flagged = sy.datasets.register(name, broken)
    assert flagged.checks == "failed" and "failed its checks" in caplog.text
    assert sy.datasets.get(name).version == 1  # a bare name skips the flagged version
    assert sy.datasets.get(f"{name}@latest").version == 2
    accepted = sy.datasets.accept(f"{name}@2")
    assert accepted.checks == "accepted" and sy.datasets.get(name).version == 2
    edited = sy.datasets.set_schema(name, schema)
    assert edited == 2 and sy.datasets.schema(name) == schema


def test_aliases_and_tags(mode: str, name: str, loans: pd.DataFrame) -> None:
    sy.datasets.register(name, loans)
    sy.datasets.register(name, loans.head(10))
    assert sy.datasets.set_alias(f"{name}@1", "golden").aliases == ("golden",)
    assert sy.datasets.set_alias(f"{name}@2", "golden").aliases == ("golden",)
    assert sy.datasets.resolve(f"{name}@1").aliases == ()
    assert sy.datasets.tag(f"{name}@2", owner="ann", rows=10).tags == {"owner": "ann", "rows": "10"}
    sy.datasets.remove_alias(name, "golden")
    with pytest.raises(NotFound, match="has no alias 'golden'"):
        sy.datasets.get(f"{name}@golden")
    with pytest.raises(InvalidInput, match="is reserved"):
        sy.datasets.set_alias(f"{name}@1", "latest")


def test_profile_and_diff(mode: str, name: str, loans: pd.DataFrame) -> None:
    sy.datasets.register(name, loans)
    sy.datasets.register(name, make_loans(600, seed=6, drift=1.0))
    profile = sy.datasets.profile(f"{name}@1")
    assert profile.rows == 600 and {c.name for c in profile.columns} == set(loans.columns)
    changed = sy.datasets.diff(f"{name}@1", f"{name}@2")
    assert changed.rows == (600, 600) and not changed.same_content
    assert not changed.stats.empty


def test_sql_transforms_and_lineage(mode: str, name: str, loans: pd.DataFrame) -> None:
    sy.datasets.register(name, loans)
    frame = sy.datasets.query(
        f"SELECT count(*) AS n FROM {name}@1 WHERE income > $x", params={"x": 0}
    )
    assert frame["n"].tolist() == [int((loans["income"] > 0).sum())]
    with pytest.raises(InvalidInput, match="may read only the dataset versions it names"):
        sy.datasets.query(f"SELECT * FROM read_csv('/etc/passwd'), {name}@1")
    derived = sy.datasets.query(
        f"SELECT region, avg(income) AS income FROM {name}@1 GROUP BY 1 ORDER BY 1",
        register_as=f"{name}_by_region",
    )
    assert derived.parents == (sy.datasets.get(f"{name}@1").id,)

    def top(frame: pd.DataFrame, n: int) -> pd.DataFrame:
        return frame.head(n)

    sy.datasets.register_transform(f"{name}_top", top)
    made = sy.datasets.run_transform(
        f"{name}_top", [f"{name}@1"], output=f"{name}_top", params={"n": 5}
    )
    cached = sy.datasets.run_transform(
        f"{name}_top", [f"{name}@1"], output=f"{name}_top", params={"n": 5}
    )
    assert cached.id == made.id and made.rows == 5
    graph = sy.datasets.lineage(f"{name}@1")
    assert {(e.child, e.transform) for e in graph.downstream} == {
        (derived.ref, f"query:{name}_by_region"),
        (made.ref, f"{name}_top"),
    }
    assert [e.parent for e in sy.datasets.lineage(made.ref).upstream] == [f"{name}@1"]


def test_not_found_messages_are_the_same(mode: str, name: str, loans: pd.DataFrame) -> None:
    with pytest.raises(NotFound, match=rf"No dataset named '{name}'\. Try: shipyard data list"):
        sy.datasets.schema(name)
    sy.datasets.register(name, loans.head(5))
    with pytest.raises(NotFound, match=rf"Dataset '{name}' has no version 9 \(latest is 1\)"):
        sy.datasets.get(f"{name}@9")
    with pytest.raises(InvalidInput, match="is not valid"):
        sy.datasets.get("9bad")


def test_a_run_records_what_it_read(mode: str, name: str, loans: pd.DataFrame) -> None:
    """In remote mode the run must be the server's too (the tracking store over HTTP)."""
    sy.datasets.register(name, loans.head(20))
    with sy.start_run(experiment=name) as run:
        sy.datasets.get(name)
    assert [v.ref for v in sy.datasets.run_inputs(run.id)] == [f"{name}@1"]
    graph = sy.datasets.lineage(f"{name}@1")
    assert [r["id"] for r in graph.readers[f"{name}@1"]] == [run.id]


def test_the_server_reads_what_the_sdk_stored(remote: str, loans: pd.DataFrame) -> None:
    """The version's files went to the server's artifact store (the HTTP artifact store)."""
    name = f"loans_{uuid.uuid4().hex[:8]}"
    sy.datasets.register(name, loans.head(40))
    with httpx.Client(base_url=f"{remote}/api") as api:
        rows = api.get(f"/datasets/{name}/versions/1/rows", params={"columns": ["age"]}).json()
        assert [r[0] for r in rows["items"]] == loans["age"].head(40).tolist()
        assert api.get(f"/datasets/{name}/versions/1/profile").json()["rows"] == 40
        sql = {"sql": f"SELECT count(*) AS n FROM {name}@1"}
        assert api.post("/datasets/query", json=sql).json()["rows"] == [[40]]


def test_cli_lists_and_shows_through_the_server(remote: str, loans: pd.DataFrame) -> None:
    name = f"loans_{uuid.uuid4().hex[:8]}"
    sy.datasets.register(name, loans, aliases=["golden"])
    sy.datasets.register(name, loans.head(30))
    listed = _cli("data", "list", "--json")
    mine = next(d for d in json.loads(listed) if d["name"] == name)
    assert (mine["versions"], mine["latest"]) == (2, 2)
    versions = _cli("data", "versions", name)
    assert "golden" in versions and "600" in versions
    shown = json.loads(_cli("data", "show", f"{name}@golden", "--json"))
    assert shown["ref"] == f"{name}@1" and shown["profile"]["rows"] == 600
    assert shown["created_at"].endswith("+00:00")
    assert name in _cli("data", "list")


def _cli(*args: str) -> str:
    from typer.testing import CliRunner

    from shipyard.cli import app

    done = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    return done.output

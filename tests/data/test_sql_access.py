"""Dataset SQL reaches only the versions it names (issue 17): DuckDB's external access is
off by default, so files, URLs, ATTACH and extensions are refused with one clear line, and
``external_access=True`` (``--external-access`` on the CLI) is the explicit opt-in."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.data import make_loans
from shipyard.errors import InvalidInput


@pytest.fixture
def loans(home) -> sy.datasets.DatasetVersion:
    sy.datasets.register("loans", make_loans(2_000, seed=5))
    return sy.datasets.register("loans", make_loans(1_000, seed=6))


def escapes(tmp_path: Path) -> dict[str, str]:
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n42\n")
    return {
        "read_csv": f"SELECT * FROM read_csv('{outside}')",
        "passwd": "SELECT * FROM read_csv('/etc/passwd') JOIN loans@1 ON true",
        "read_text": "SELECT * FROM read_text('/etc/hostname')",
        "glob": "SELECT * FROM glob('/etc/*')",
        "copy_to": f"COPY (SELECT * FROM loans@1) TO '{tmp_path / 'stolen.csv'}'",
        "attach": f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "url": "SELECT * FROM 'https://example.com/data.csv'",
        "turn_back_on": "SET enable_external_access = true",
        "unlock": "SET lock_configuration = false",
    }


ESCAPES = ["read_csv", "passwd", "read_text", "glob", "copy_to", "attach", "install", "load"]
ESCAPES += ["url", "turn_back_on", "unlock"]


@pytest.mark.parametrize("name", ESCAPES)
def test_sql_cannot_reach_outside_the_versions_it_names(loans, tmp_path, name):
    with pytest.raises(InvalidInput) as info:
        sy.datasets.query(escapes(tmp_path)[name])
    message = str(info.value)
    assert "\n" not in message
    assert "external_access=True" in message
    assert not (tmp_path / "stolen.csv").exists()
    assert not (tmp_path / "other.duckdb").exists()


def test_versions_still_answer_and_joins_across_versions_work(loans):
    out = sy.datasets.query(
        "SELECT count(*) AS n FROM loans@1 a JOIN loans@2 b ON a.region = b.region "
        "WHERE a.age < 30 AND b.age < 30"
    )
    assert out["n"].iloc[0] > 0
    made = sy.datasets.query("SELECT * FROM loans@2 WHERE age < 30", register_as="young")
    assert isinstance(made, sy.datasets.DatasetVersion)
    assert made.rows == int((make_loans(1_000, seed=6)["age"] < 30).sum())
    start = time.perf_counter()
    for _ in range(20):
        sy.datasets.query("SELECT avg(income) AS income FROM loans@1")
    assert (time.perf_counter() - start) / 20 < 0.5  # locking adds no measurable cost


def test_sql_transforms_are_confined_too(loans, tmp_path):
    sy.datasets.register_transform("leak", "SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(InvalidInput, match="may read only the dataset versions"):
        sy.datasets.run_transform("leak", ["loans@1"], output="leaked")


def test_external_access_is_an_explicit_opt_in(loans, tmp_path):
    outside = tmp_path / "extra.csv"
    pd.DataFrame({"region": ["north"], "bonus": [7]}).to_csv(outside, index=False)
    sql = f"SELECT bonus FROM read_csv('{outside}')"
    assert sy.datasets.query(sql, external_access=True)["bonus"].tolist() == [7]
    target = tmp_path / "copy.csv"
    sy_sql = f"COPY (SELECT * FROM loans@2 LIMIT 3) TO '{target}'"
    sy.datasets.query(sy_sql, external_access=True)
    assert len(pd.read_csv(target)) == 3


def test_the_cli_refuses_by_default_and_takes_the_flag(loans, tmp_path):
    runner = CliRunner()
    outside = tmp_path / "extra.csv"
    outside.write_text("bonus\n7\n")
    sql = f"SELECT bonus FROM read_csv('{outside}')"
    refused = runner.invoke(app, ["data", "query", sql], env={"COLUMNS": "160"})
    assert refused.exit_code != 0
    assert "--external-access" in refused.output
    allowed = runner.invoke(
        app, ["data", "query", sql, "--external-access", "--json"], env={"COLUMNS": "160"}
    )
    assert allowed.exit_code == 0, allowed.output
    assert '"bonus": 7' in allowed.output or '"bonus":7' in allowed.output

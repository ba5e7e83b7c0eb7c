"""``shipyard data`` commands on a real store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.data import make_loans

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "160"})


def test_data_commands_end_to_end(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "loans.parquet"
    make_loans(1_000, seed=3).to_parquet(source)
    first = invoke("data", "register", "loans", str(source), "--alias", "golden", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["new"] is True
    again = invoke("data", "register", "loans", str(source))
    assert "already stored" in again.output
    drifted = tmp_path / "drifted.parquet"
    make_loans(1_000, seed=4, drift=1.0).to_parquet(drifted)
    assert invoke("data", "register", "loans", str(drifted)).exit_code == 0

    listed = json.loads(invoke("data", "list", "--json").output)
    assert listed[0]["name"] == "loans" and listed[0]["versions"] == 2
    versions = invoke("data", "versions", "loans")
    assert "golden" in versions.output
    show = invoke("data", "show", "loans@golden")
    assert show.exit_code == 0 and "income" in show.output
    cells = [line.split() for line in show.output.splitlines() if line.startswith("│ ")]
    types = {row[1]: row[3] for row in cells if row[1] in ("gender", "income", "age")}
    assert types == {"gender": "category", "income": "float64", "age": "int64"}
    assert "dictionary<" not in show.output and "double" not in show.output

    diff = json.loads(invoke("data", "diff", "loans@1", "loans@2", "--json").output)
    assert any(r["column"] == "income" for r in diff["stats"])

    bad = tmp_path / "bad.csv"
    make_loans(50, seed=5).drop(columns=["income"]).to_csv(bad, index=False)
    check = invoke("data", "validate", str(bad), "--against", "loans")
    assert check.exit_code == 1 and "income" in check.output
    assert invoke("data", "validate", "loans@1", "--against", "loans").exit_code == 0

    report = tmp_path / "profile.html"
    assert invoke("data", "profile", "loans@1", "--html", str(report)).exit_code == 0
    assert "credit_score" in report.read_text()

    query = invoke(
        "data", "query", "SELECT region, count(*) AS n FROM loans@1 GROUP BY 1", "--json"
    )
    assert sum(r["n"] for r in json.loads(query.output)) == 1_000
    made = invoke("data", "query", "SELECT * FROM loans@2 WHERE age < 30", "--register-as", "young")
    assert made.exit_code == 0 and "young@1" in made.output
    graph = json.loads(invoke("data", "lineage", "loans@2", "--json").output)
    assert graph["downstream"] == [
        {"parent": "loans@2", "child": "young@1", "transform": "query:young"}
    ]
    tree = invoke("data", "lineage", "young@1")
    assert "loans@2 -> young@1" in tree.output


def test_data_errors_are_clear(home: Path) -> None:
    result = invoke("data", "show", "ghost@1")
    assert result.exit_code == 1 and "No dataset named 'ghost'" in result.output
    assert sy.datasets.list_datasets() == []


def test_a_version_that_fails_its_checks_is_said_once_in_one_line(home: Path, tmp_path: Path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    frame = make_loans(200, seed=3)
    frame.to_csv(good, index=False)
    frame.rename(columns={"income": "salary"}).to_csv(bad, index=False)
    assert invoke("data", "register", "loans", str(good)).exit_code == 0

    result = invoke("data", "register", "loans", str(bad))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "loans@2 registered: 200 rows x 17 columns"
    (warning,) = lines[1:]  # one line, said once (it was a header, a list and a log)
    assert warning.startswith("Warning: loans@2 failed its checks (Column 'income'")
    assert "'loans' still resolves to loans@1" in warning
    assert warning.endswith("shipyard data accept loans@2")
    assert result.output.count("missing from the data") == 1
    assert "failed" in invoke("data", "versions", "loans").output
    listed = json.loads(invoke("data", "versions", "loans", "--json").output)
    assert [v["checks"] for v in listed] == ["failed", "passed"]
    assert json.loads(invoke("data", "show", "loans", "--json").output)["ref"] == "loans@1"

    accepted = invoke("data", "accept", "loans@2")
    assert accepted.output.strip() == "loans@2 accepted; loans now resolves to loans@2"
    assert invoke("data", "register", "other", str(good)).exit_code == 0
    rejected = invoke("data", "register", "other", str(bad), "--policy", "reject")
    assert rejected.exit_code != 0 and "nothing was stored" in rejected.output


def test_validating_a_file_of_no_known_format_says_it_cannot_read_it(
    home: Path, tmp_path: Path
) -> None:
    """``data validate`` reads the file as ``data register`` does; its error says "read",
    not "register" (nothing is being registered)."""
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    check = invoke("data", "validate", str(page), "--against", "loans")
    assert check.exit_code == 1
    assert f"Cannot read {page}" in check.output and "register" not in check.output

"""Listings on a store that is not there: they name the store they looked in and create none;
from a subfolder, the commands find the ``.shipyard`` above, as git finds ``.git``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.config import find_home, reset_settings

runner = CliRunner()
LISTINGS = {
    "models": ["models", "list"],
    "datasets": ["data", "list"],
    "experiments": ["experiments", "list"],
    "runs": ["runs", "list"],
    "deployments": ["deployments", "list"],
    "monitors": ["monitors", "list"],
    "alerts": ["alerts", "list"],
    "pipelines": ["pipelines", "list"],
}


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.mark.parametrize("things", list(LISTINGS))
def test_a_listing_of_a_missing_store_names_it_and_creates_nothing(home: Path, things: str) -> None:
    result = invoke(*LISTINGS[things])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"No {things} in {home.resolve()} (SHIPYARD_HOME). Try: shipyard quickstart"
    )
    as_json = invoke(*LISTINGS[things], "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) in ([], {"runs": [], "next_page_token": None})
    assert not home.exists()


@pytest.mark.parametrize("things", ["models", "datasets", "deployments", "monitors", "pipelines"])
def test_an_empty_listing_of_a_store_names_it(home: Path, things: str) -> None:
    with sy.start_run(experiment="setup"):
        pass  # the store exists now, with nothing of these in it
    result = invoke(*LISTINGS[things])
    assert result.exit_code == 0, result.output
    assert f"No {things} in {home.resolve()} (SHIPYARD_HOME)" in result.output


def test_a_subfolder_finds_the_store_above(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if find_home(tmp_path) is not None:
        pytest.skip(f"{find_home(tmp_path)} exists above the test's folder")
    project = tmp_path / "project"
    monkeypatch.setenv("SHIPYARD_HOME", str(project / ".shipyard"))
    reset_settings()
    sy.datasets.register("loans", sy.datasets.make_loans(50, seed=0))
    monkeypatch.delenv("SHIPYARD_HOME")
    (project / "notebooks" / "week1").mkdir(parents=True)
    monkeypatch.chdir(project / "notebooks" / "week1")
    reset_settings()
    listed = invoke("data", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [d["name"] for d in json.loads(listed.output)] == ["loans"]
    assert invoke("models", "list").output.strip() == (
        f"No models in {(project / '.shipyard').resolve()} (found above the working folder). "
        "Try: shipyard quickstart"
    )
    assert not (project / "notebooks" / "week1" / ".shipyard").exists()

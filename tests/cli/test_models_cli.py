"""``shipyard models`` commands on a real store, through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner, Result

import shipyard as sy
from shipyard.cli import app
from shipyard.data import make_loans

runner = CliRunner()
COLUMNS = ["age", "income", "credit_score"]


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input, env={"COLUMNS": "160"})


def as_json(*args: str) -> Any:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def churn(home: Path) -> str:
    """Three versions of ``churn``: 1 from a run (auc 0.7, C=1), 2 and 3 with auc 0.8, 0.9."""
    loans = make_loans(400, seed=2)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        loans[COLUMNS], loans["default"]
    )
    with sy.start_run(experiment="churn"):
        sy.log_param("C", 1.0)
        sy.log_metric("auc", 0.7)
        sy.models.register("churn", model, X=loans[COLUMNS], y=loans["default"])
    for auc in (0.8, 0.9):
        sy.models.register("churn", model, X=loans[COLUMNS], metrics={"auc": auc})
    return "churn"


def test_list_versions_and_show(churn):
    listed = invoke("models", "list")
    assert listed.exit_code == 0 and "churn" in listed.output
    (summary,) = as_json("models", "list")
    assert {k: summary[k] for k in ("name", "versions", "latest", "production", "aliases")} == {
        "name": "churn",
        "versions": 3,
        "latest": 3,
        "production": None,
        "aliases": {},
    }

    table = invoke("models", "versions", "churn")
    assert table.exit_code == 0 and "auc=0.9" in table.output
    versions = as_json("models", "versions", "churn")
    assert [v["ref"] for v in versions] == ["churn@3", "churn@2", "churn@1"]
    assert [v["metrics"]["auc"] for v in versions] == [0.9, 0.8, 0.7]
    assert all(v["flavor"] == "sklearn" and v["format"] == "skops" for v in versions)
    assert [c["name"] for c in versions[0]["signature"]["inputs"]] == COLUMNS

    shown = invoke("models", "show", "churn@1")
    assert shown.exit_code == 0, shown.output
    for text in ("churn@1", "sklearn (skops)", "auc=0.7", "credit_score", "registered"):
        assert text in shown.output
    detail = as_json("models", "show", "churn@1")
    assert detail["ref"] == "churn@1" and detail["run_id"] is not None
    assert detail["signature"]["classes"] == [0, 1]
    assert "scikit-learn" in detail["environment"]["packages"]
    assert [e["kind"] for e in detail["history"]] == ["registered"]


def test_list_of_an_empty_registry(home):
    assert as_json("models", "list") == []


def test_promote_and_rollback(churn):
    first = invoke("models", "promote", "churn", "1", "--reason", "first release")
    assert first.exit_code == 0, first.output
    assert "churn@1 is now in production" in first.output
    promoted = as_json("models", "promote", "churn@2")
    assert (promoted["ref"], promoted["stage"]) == ("churn@2", "production")
    staged = as_json("models", "promote", "churn", "3", "--to", "staging")
    assert staged["stage"] == "staging"
    stages = {v["ref"]: v["stage"] for v in as_json("models", "versions", "churn")}
    assert stages == {"churn@1": "archived", "churn@2": "production", "churn@3": "staging"}

    back = as_json("models", "rollback", "churn", "--reason", "auc dropped")
    assert (back["ref"], back["stage"], back["previous"]) == ("churn@1", "production", 2)
    history = as_json("models", "show", "churn@1")["history"]
    assert (history[0]["kind"], history[0]["reason"]) == ("rollback", "auc dropped")
    assert history[-1]["kind"] == "registered"

    again = invoke("models", "rollback", "churn")
    assert again.exit_code == 1
    assert "no earlier production version to roll back to" in again.output
    bad_stage = invoke("models", "promote", "churn", "3", "--to", "live")
    assert bad_stage.exit_code == 1 and "stage must be one of" in bad_stage.output


def test_alias_set_move_and_remove(churn):
    set_ = invoke("models", "alias", "churn", "champion", "3", "--reason", "best")
    assert set_.exit_code == 0, set_.output
    assert "churn@champion → 3" in set_.output
    moved = invoke("models", "alias", "churn@2", "champion")
    assert moved.exit_code == 0 and "churn@champion → 2" in moved.output
    assert as_json("models", "list")[0]["aliases"] == {"champion": 2}
    assert as_json("models", "show", "churn@champion")["ref"] == "churn@2"

    no_version = invoke("models", "alias", "churn", "champion")
    assert no_version.exit_code == 2 and "give the version" in no_version.output
    both = invoke("models", "alias", "churn@2", "champion", "3")
    assert both.exit_code == 2 and "not both" in both.output
    reserved = invoke("models", "alias", "churn", "latest", "1")
    assert reserved.exit_code == 1 and "Alias 'latest' is reserved" in reserved.output

    removed = invoke("models", "alias", "churn", "champion", "--remove")
    assert removed.exit_code == 0 and "removed" in removed.output
    assert as_json("models", "list")[0]["aliases"] == {}
    gone = invoke("models", "alias", "churn", "champion", "--remove")
    assert gone.exit_code == 1 and "has no alias 'champion' to remove" in gone.output


def test_compare(churn):
    frame = as_json("models", "compare", "churn@1", "churn@2", "churn@3")
    assert list(frame) == ["churn@1", "churn@2", "churn@3"]
    assert [frame[ref]["metrics.auc"] for ref in frame] == [0.7, 0.8, 0.9]
    assert frame["churn@1"]["params.C"] == "1.0" and frame["churn@2"]["params.C"] is None
    assert frame["churn@2"]["run"] is None
    table = invoke("models", "compare", "churn@1", "churn@3")
    assert table.exit_code == 0 and "metrics.auc" in table.output and "churn@3" in table.output
    one = invoke("models", "compare", "churn@1")
    assert one.exit_code == 1 and "at least two" in one.output


def test_delete(churn):
    sy.models.promote("churn@2")
    refused = invoke("models", "delete", "churn@2")
    assert refused.exit_code == 1
    assert "churn@2 is in use (stage production)" in refused.output
    forced = invoke("models", "delete", "churn@2", "--force", "--reason", "bad data")
    assert forced.exit_code == 0 and "Deleted churn@2" in forced.output
    assert [v["ref"] for v in as_json("models", "versions", "churn")] == ["churn@3", "churn@1"]

    kept = invoke("models", "delete", "churn", "--all", input="n\n")
    assert kept.exit_code == 1 and len(as_json("models", "versions", "churn")) == 2
    everything = invoke("models", "delete", "churn", "--all", "--yes")
    assert everything.exit_code == 0 and "Deleted model churn (2 versions)" in everything.output
    assert as_json("models", "list") == []


@pytest.mark.parametrize(
    "args",
    [
        ("show", "churn@9"),
        ("promote", "churn", "9"),
        ("alias", "churn", "champion", "9"),
        ("delete", "churn@9"),
        ("compare", "churn@1", "churn@9"),
    ],
)
def test_a_missing_version_is_an_error_that_says_what_exists(churn, args):
    result = invoke("models", *args)
    assert result.exit_code == 1
    assert "Model 'churn' has no version 9 (latest is 3)." in result.output
    assert "Try: shipyard models versions churn" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_model_is_an_error(home):
    for args in (("versions", "ghost"), ("show", "ghost@1"), ("rollback", "ghost")):
        result = invoke("models", *args)
        assert result.exit_code == 1
        assert "No model named 'ghost'. Try: shipyard models list" in result.output


def test_data_lineage_lists_the_models_trained_on_a_version(home: Path) -> None:
    loans = make_loans(300, seed=4)
    sy.datasets.register("loans", loans)
    model = LogisticRegression().fit(loans[COLUMNS], loans["default"])
    with sy.start_run(experiment="lineage"):
        frame = sy.datasets.get("loans@1").to_pandas()  # the run records the read
        sy.models.register("churn", model, X=frame[COLUMNS], y=frame["default"])
    sy.models.register("other", model, X=loans[COLUMNS])  # not trained on a dataset version
    assert [v.ref for v in sy.models.trained_on("loans@1")] == ["churn@1"]
    assert sy.models.get("churn@1").datasets == ("loans@1",)
    graph = as_json("data", "lineage", "loans@1")
    assert graph["models"] == ["churn@1"]
    tree = invoke("data", "lineage", "loans@1")
    assert "models trained on it" in tree.output and "churn@1" in tree.output

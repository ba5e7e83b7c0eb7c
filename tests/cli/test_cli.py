"""The shipyard command line, through Typer's runner on a real store."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    result = runner.invoke(app, list(args), input=input, env={"COLUMNS": "160"})
    return result


@pytest.fixture
def runs(home: Path) -> list[str]:
    ids = []
    for n, (model, auc) in enumerate([("lgbm", 0.93), ("rf", 0.88), ("lgbm", 0.81)]):
        with sy.start_run(experiment="churn", name=f"r{n}") as run:
            run.log_params({"model": model, "depth": n + 3})
            for step in range(5):
                run.log_metric("loss", 1.0 / (step + 1))
            run.log_metric("auc", auc)
            run.set_tag("team", "risk")
        ids.append(run.id)
    return ids


def test_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in (
        "quickstart",
        "experiments",
        "runs",
        "data",
        "models",
        "train",
        "automl",
        "serve",
        "deployments",
        "monitors",
        "alerts",
        "server",
        "users",
        "tokens",
        "db",
    ):
        assert command in result.output
    monitors_help = invoke("monitors", "--help").output
    for verb in ("create", "list", "show", "run", "watch", "report", "pause", "delete"):
        assert verb in monitors_help
    alerts_help = invoke("alerts", "--help").output
    for verb in ("list", "show", "ack", "resolve"):
        assert verb in alerts_help
    models_help = invoke("models", "--help").output
    for verb in ("list", "show", "versions", "promote", "rollback", "alias", "export"):
        assert verb in models_help
    for verb in ("compare", "delete"):
        assert verb in models_help
    runs_help = invoke("runs", "--help").output
    for verb in ("list", "show", "compare", "delete"):
        assert verb in runs_help


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert sy.__version__ in result.output


def test_experiments_list_json(runs: list[str]) -> None:
    result = invoke("experiments", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(e["name"], e["runs"]) for e in data] == [("churn", 3)]


def test_runs_list_filters_orders_and_paginates(runs: list[str]) -> None:
    result = invoke(
        "runs",
        "list",
        "-e",
        "churn",
        "-f",
        "params.model = 'lgbm'",
        "-o",
        "metrics.auc desc",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["name"] for r in data["runs"]] == ["r0", "r2"]
    assert data["runs"][0]["metrics.auc"] == pytest.approx(0.93)

    page = json.loads(invoke("runs", "list", "-n", "2", "--json").output)
    assert len(page["runs"]) == 2 and page["next_page_token"]
    rest = json.loads(
        invoke("runs", "list", "-n", "2", "--page-token", page["next_page_token"], "--json").output
    )
    seen = {r["run_id"] for r in page["runs"] + rest["runs"]}
    assert seen == set(runs) and rest["next_page_token"] is None

    table = invoke("runs", "list", "-e", "churn", "-o", "metrics.auc desc")
    assert table.exit_code == 0
    assert table.output.index("r0") < table.output.index("r1") < table.output.index("r2")


def test_runs_list_bad_filter_points_at_token(runs: list[str]) -> None:
    result = invoke("runs", "list", "-f", "metrics.auc >> 0.9")
    assert result.exit_code == 1
    assert "Error" in result.output and "^" in result.output


def test_runs_show_table_and_json(runs: list[str]) -> None:
    result = invoke("runs", "show", runs[0][:8])
    assert result.exit_code == 0, result.output
    for text in ("r0", "lgbm", "auc", "0.93", "loss", "team"):
        assert text in result.output
    data = json.loads(invoke("runs", "show", runs[0], "--json").output)
    assert data["params"] == {"model": "lgbm", "depth": "3"}
    assert data["metrics"]["loss"]["count"] == 5
    assert data["status"] == "finished"


def test_runs_show_unknown_run_is_a_clear_error(home: Path) -> None:
    result = invoke("runs", "show", "0123456789abcdef")
    assert result.exit_code == 1
    assert "No run with id" in result.output
    assert "Traceback" not in result.output


def test_runs_compare_highlights_differences(runs: list[str]) -> None:
    data = json.loads(invoke("runs", "compare", runs[0], runs[1], "--json").output)
    assert data["params.model"]["differs"] is True
    assert data["tags.team"]["differs"] is False
    diff = invoke("runs", "compare", runs[0], runs[1], "--diff")
    assert diff.exit_code == 0
    assert "params.model" in diff.output and "tags.team" not in diff.output


def test_runs_delete_soft_and_purge(runs: list[str], home: Path) -> None:
    refused = invoke("runs", "delete", runs[1], input="n\n")
    assert refused.exit_code == 1
    assert len(sy.search_runs("churn")) == 3
    assert invoke("runs", "delete", runs[1], "--yes").exit_code == 0
    assert len(sy.search_runs("churn")) == 2
    assert invoke("runs", "delete", runs[2], "--purge", "--yes").exit_code == 0
    with sqlite3.connect(home / "shipyard.db") as conn:
        assert conn.execute("select count(*) from runs").fetchone()[0] == 2
        assert (
            conn.execute("select count(*) from metrics where run_id = ?", (runs[2],)).fetchone()[0]
            == 0
        )


def test_db_upgrade_and_current(home: Path) -> None:
    first = invoke("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert "upgraded" in first.output
    again = invoke("db", "upgrade")
    assert "up to date" in again.output
    data = json.loads(invoke("db", "current", "--json").output)
    assert data["revision"] == data["head"]


def test_db_refuses_a_store_from_newer_code(home: Path) -> None:
    assert invoke("db", "upgrade").exit_code == 0
    with sqlite3.connect(home / "shipyard.db") as conn:
        conn.execute("update alembic_version set version_num = '9999'")
    result = invoke("experiments", "list")
    assert result.exit_code == 1
    assert "newer Shipyard" in result.output
    with sqlite3.connect(home / "shipyard.db") as conn:
        assert conn.execute("select version_num from alembic_version").fetchone()[0] == "9999"


@pytest.mark.slow
def test_quickstart_runs_the_loop_and_says_where_to_look(
    home: Path, quickstart_store: tuple[Path, str]
) -> None:
    # ``shipyard quickstart --rows 3000 --automl-budget 3`` ran once for the session (the
    # fixture asserts it exited 0); its store is copied here and its output checked.
    shutil.copytree(quickstart_store[0], home)
    output = quickstart_store[1]
    assert "shipyard runs show" in output
    assert "Best model: hist_gradient_boosting (learning_rate=" in output
    # the drifted month's checks fail on purpose: explained once, never a bare warning
    assert "breaks its schema" not in output
    assert "outside its dataset's schema" not in output
    flagged = not sy.datasets.get("loans@2").validation["ok"]
    assert ("loans@2 leaves the ranges learnt from loans@1 on purpose" in output) == flagged
    found = sy.search_runs("quickstart-loans", order_by=["metrics.auc desc"])
    assert len(found) == 4  # parent and three children
    best = found.iloc[0]
    assert best["metrics.auc"] > 0.7
    parent = found[found["parent_id"].isna()].iloc[0]
    assert parent["tags.best_run"] == best["run_id"]
    history = sy.get_metric_history(best["run_id"], "valid_loss")
    assert len(history) > 5 and history[-1].value < history[0].value
    # The registry stage: three versions, the best run's is champion and in production,
    # with a parity-checked ONNX export and lineage back to its run and dataset.
    versions = sy.models.versions("loans-default")
    assert len(versions) == 5  # three trained, one from AutoML, one retrained by the loop
    champion = sy.models.get("loans-default@champion")
    assert champion.run_id == best["run_id"]
    assert champion.stage == "production"
    assert champion.datasets == ("loans@1",)
    assert champion.metrics["auc"] == pytest.approx(best["metrics.auc"])
    assert champion.exports["onnx"].report["label_agreement"] >= 0.999
    assert "shipyard models show loans-default@champion" in output
    challenger = sy.models.get("loans-default@challenger")
    assert challenger.version == 4 and challenger.datasets == ("loans@1",)
    assert sy.get_run(challenger.run_id).params["time_budget"] == "3.0"
    assert "AutoML:" in output
    # The serving stage: the champion answered over HTTP, the challenger shadowed it, and
    # both answers and the posted outcomes are in the inference log; then the challenger
    # ran as a canary on labelled traffic until the sequential tests decided.
    import re

    from shipyard import serving

    loans = serving.deployments.get("loans")
    assert loans.policy["kind"] == "canary"
    assert loans.policy["status"] in ("promoted", "rolled_back")
    kinds = [e.kind for e in serving.deployments.history("loans")]
    decided = [k for k in kinds if k in ("canary-promoted", "canary-rolled-back")]
    assert kinds[-1] == "created" and len(decided) == 2  # the challenger's, the candidate's
    assert serving.deployments.history("loans")[-1].detail["kind"] == "shadow"
    canaried = int(re.search(r"after (\d+) requests it was", output)[1])
    looped = int(re.search(r"after (\d+) requests of the following weeks", output)[1])
    log = serving.read_requests("loans").to_pandas()
    assert log["shadow"].sum() == 200 and set(log.loc[log["shadow"], "version"]) == {4}
    answered = log[~log["shadow"]]
    assert len(answered) == 200 + canaried + looped
    assert (answered["version"] == champion.version).sum() >= 200
    assert len(serving.read_feedback("loans")) == 200 + canaried + looped
    assert "Canary: the challenger" in output
    assert "Serving: deployment loans" in output
    assert "shipyard serve --deployment loans" in output
    # The monitoring stage: the drifted month's traffic against the training data, and the
    # month itself against loans@1, each checked once; what drifted opened alerts.
    from shipyard import monitoring

    (watch,) = monitoring.checks("loans-watch")
    assert watch.status == "alert" and watch.rows == 200 and watch.reference_rows == 3000
    assert watch.detectors["data_drift"]["flagged"]
    assert watch.detectors["multivariate"]["flagged"]
    assert watch.detectors["performance"]["evidence"]["labelled_rows"] == 200
    skipped = watch.detectors["data_drift"]["evidence"]["skipped"]
    assert set(skipped) == {"applied_at"}  # the challenger takes its date parts
    opened = {(a.monitor, a.detector) for a in monitoring.list_alerts(status="open")}
    assert ("loans-watch", "data_drift") in opened and ("loans-data", "data_drift") in opened
    assert "Monitoring: monitor loans-watch" in output
    page = (home / "reports" / "loans-watch.html").read_text()
    assert "Monitor loans-watch" in page and "data drift in" in page
    assert "shipyard alerts list --status open" in output
    api = output.split("The same through the REST API: ")[1].split("\n")[0]
    series = len(monitoring.series("loans-watch"))
    assert api.startswith("GET /api/monitors/loans-watch/report answered 1 check(s), ")
    assert f"{series} stored results" in api and series > 0
    assert "the web UI answered 8 pages" in api
    # The loop: the alerts of that check started one run of the retraining pipeline (the
    # run names the alert, the alerts name the run), whose candidate went on canary.
    (started,) = sy.pipelines.list_runs("retrain-loans")
    run = sy.pipelines.get_run(started.id)
    assert run.status == "succeeded" and run.trigger is not None
    assert run.trigger["kind"] == "alert" and run.trigger["monitor"] == "loans-watch"
    for alert_id in run.trigger["alerts"]:
        delivered = monitoring.get_alert(alert_id).deliveries
        assert any(d.get("run") == run.id for d in delivered)
    assert [s.status for s in run.steps] == ["succeeded"] * 8
    candidate = sy.models.get("loans-default@5")
    assert candidate.datasets == ("loans@2",)
    assert f"Loop: alert {run.trigger['alert']} " in output
    assert "The candidate loans-default@5 went on canary" in output
    _governed(output, champion.ref)


def _governed(output: str, champion: str) -> None:
    """The governance stage: the champion explained, fair, carded; the challenger gated."""
    from shipyard import governance

    explained = governance.explanation(champion)
    assert explained is not None and explained.method == "tree"
    fair = sy.models.evidence(champion, "fairness")[0].data
    assert fair["sensitive"] == ["gender"] and fair["disparities"]
    assert governance.card(champion, check=False).complete
    gates = sy.models.check("loans-default@challenger", to="champion")
    assert not gates.passed and "explanation" in [r.name for r in gates.results if not r.passed]
    with pytest.raises(sy.models.GatesFailed):
        sy.models.set_alias("loans-default@challenger", "champion")
    assert governance.verify_audit().ok
    flat = " ".join(output.split())  # rich wraps long paragraphs
    assert f"Governance: {champion} explained (tree SHAP" in flat
    assert "its hash chain intact" in flat
    assert f"shipyard models card {champion} --html" in output

"""The SDK's tracking workflows give the same results on a local store and through a
platform server (remote mode, ``SHIPYARD_URL``): each test runs in both modes (``mode``).

In remote mode the tests of this module share one server, so each names its experiments
after itself (``_exp``) and searches only those.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.tracking import tracking_store


def _exp(name: str) -> str:
    """An experiment name no other test (or mode) of the shared server uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _backend_kind() -> str:
    return type(tracking_store()).__name__


def test_the_mode_picks_the_backend(mode: str) -> None:
    expected = "HttpTrackingBackend" if mode == "remote" else "TrackingStore"
    assert _backend_kind() == expected


def test_a_run_logs_params_metrics_tags_and_reads_back(mode: str) -> None:
    exp = _exp("basics")
    with sy.start_run(experiment=exp, name="first", tags={"team": "risk"}) as run:
        run.log_params({"model": "lgbm", "depth": 3, "lr": 0.1})
        for step in range(100):
            run.log_metric("loss", 1.0 / (step + 1))
        sy.log_metrics({"auc": 0.9, "acc": 0.8})
        sy.set_tag("stage", "dev")
        sy.log_param("seed", 7)
    data = sy.get_run(run.id[:10])
    assert data.info.id == run.id and data.info.status == "finished"
    assert data.info.end_time is not None and data.info.end_time >= data.info.start_time
    assert data.experiment == exp and data.info.name == "first"
    assert data.params == {"model": "lgbm", "depth": "3", "lr": "0.1", "seed": "7"}
    assert data.tags == {"team": "risk", "stage": "dev"}
    assert data.metrics["loss"].count == 100 and data.metrics["loss"].step == 99
    assert data.metrics["auc"].value == 0.9
    history = sy.get_metric_history(run.id, "loss")
    assert [p.step for p in history] == list(range(100))
    assert history[-1].value == pytest.approx(0.01)
    assert all(p.key == "loss" and p.timestamp > 1e9 for p in history)


def test_params_are_write_once_and_errors_keep_their_kind(mode: str) -> None:
    with sy.start_run(experiment=_exp("errors")) as run:
        run.log_param("lr", 0.1)
        with pytest.raises(Conflict, match="write-once"):
            run.log_param("lr", 0.2)
    with pytest.raises(NotFound, match="No run with id 'ffffffffffff'"):
        sy.get_run("ffffffffffff")
    with pytest.raises(InvalidInput, match=r"metrics\.auc >"):
        sy.search_runs(filter="metrics.auc >")
    with pytest.raises(InvalidInput, match="not of the form"):
        sy.search_runs(columns=["auc"])


def test_search_filters_orders_pages_and_picks_columns(mode: str) -> None:
    exp = _exp("search")
    for n in range(7):
        with sy.start_run(experiment=exp, name=f"r{n}") as run:
            run.log_params({"model": "lgbm" if n % 2 else "rf", "n": n})
            run.log_metric("auc", 0.5 + n / 20)
    frame = sy.search_runs(exp, "params.model = 'lgbm'", "metrics.auc desc")
    assert frame["name"].tolist() == ["r5", "r3", "r1"]
    assert frame["metrics.auc"].tolist() == pytest.approx([0.75, 0.65, 0.55])
    assert str(frame["start_time"].dtype).startswith("datetime64")
    pages, token = [], None
    while True:
        page = sy.search_runs(exp, order_by=["metrics.auc"], max_results=3, page_token=token)
        pages.append(page["name"].tolist())
        token = page.attrs["next_page_token"]
        if token is None:
            break
    assert pages == [["r0", "r1", "r2"], ["r3", "r4", "r5"], ["r6"]]
    narrow = sy.search_runs(exp, columns=["params.model"], max_results=2)
    assert list(narrow.columns)[-1] == "params.model" and len(narrow) == 2
    assert "metrics.auc" not in narrow.columns
    assert sy.search_runs(exp, "metrics.auc > 5").empty


def test_children_compare_and_delete(mode: str) -> None:
    exp = _exp("family")
    with sy.start_run(experiment=exp, name="parent") as parent:
        parent.log_param("kind", "sweep")
        with sy.start_run(name="child") as child:
            child.log_param("kind", "trial")
            child.log_metric("auc", 0.8)
    assert sy.get_run(parent.id).children == [child.id]
    assert sy.get_run(child.id).info.parent_id == parent.id
    table = sy.compare_runs([parent.id, child.id])
    assert bool(table.loc["params.kind", "differs"]) and not table.loc["experiment", "differs"]
    assert sorted(sy.delete_run(parent.id)) == sorted([parent.id, child.id])
    assert sy.search_runs(exp).empty
    assert len(sy.search_runs(exp, include_deleted=True)) == 2
    assert sy.get_run(parent.id).info.deleted
    sy.delete_run(parent.id, purge=True)
    with pytest.raises(NotFound):
        sy.get_run(child.id)


def test_experiments_are_listed_with_run_counts(mode: str) -> None:
    exp = _exp("listed")
    for _ in range(2):
        with sy.start_run(experiment=exp):
            pass
    found = {e.name: e for e in sy.list_experiments()}
    assert found[exp].run_count == 2 and found[exp].created_at > 1e9


def test_a_run_resumes_and_continues_its_steps(mode: str) -> None:
    with sy.start_run(experiment=_exp("resume")) as run:
        run.log_metric("loss", 0.5)
    with sy.start_run(run_id=run.id) as again:
        again.log_metric("loss", 0.4)
    assert [p.step for p in sy.get_metric_history(run.id, "loss")] == [0, 1]
    assert sy.get_run(run.id).info.status == "finished"


def test_artifact_records(mode: str) -> None:
    with sy.start_run(experiment=_exp("artifacts")) as run:
        run.log_artifact({"threshold": 0.4}, "config")
        run.log_text("hello", "notes/readme")
    data = sy.get_run(run.id)
    assert [(a.path, a.kind) for a in data.artifacts] == [
        ("config.json", "json"),
        ("notes/readme.txt", "text"),
    ]
    assert sy.load_artifact(run.id, "config.json") == {"threshold": 0.4}
    assert data.artifacts[0].size > 0 and len(data.artifacts[0].digest) == 64


def test_metric_keys_with_slashes_and_dots(mode: str) -> None:
    with sy.start_run(experiment=_exp("keys")) as run:
        run.log_metric("train/loss.v2", 1.0)
        run.log_metric("a b:c", 2.0)
    assert [p.value for p in sy.get_metric_history(run.id, "train/loss.v2")] == [1.0]
    assert [p.value for p in sy.get_metric_history(run.id, "a b:c")] == [2.0]
    assert sy.get_metric_history(run.id, "missing") == []


def test_a_large_batch_is_one_flush(mode: str) -> None:
    with sy.start_run(experiment=_exp("bulk")) as run:
        for i in range(20_000):
            run.log_metric("x", float(i), step=i)
        run.flush()
        assert run.data().metrics["x"].count == 20_000
    assert sy.get_metric_history(run.id, "x")[-1].value == 19_999.0


def test_autolog_tracks_a_fit(mode: str) -> None:
    exp = _exp("autolog")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)), np.arange(60) % 2
    sy.autolog(experiment=exp)
    try:
        LogisticRegression().fit(x, y)
    finally:
        sy.autolog(disable=True)
    row = sy.search_runs(exp).iloc[0]
    assert row["status"] == "finished"
    assert row["tags.estimator"].endswith(".LogisticRegression")
    assert row["params.training_rows"] == "60"


# -- the CLI in remote mode ----------------------------------------------------------------

runner = CliRunner()


def test_cli_lists_and_shows_runs_through_the_server(remote: str) -> None:
    exp = _exp("cli")
    with sy.start_run(experiment=exp, name="cli-run") as run:
        run.log_param("model", "lgbm")
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1))
    assert _backend_kind() == "HttpTrackingBackend"
    env = {"COLUMNS": "160"}
    listed = runner.invoke(app, ["runs", "list", "-e", exp, "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)["runs"]
    assert [r["run_id"] for r in rows] == [run.id] and rows[0]["params.model"] == "lgbm"
    table = runner.invoke(app, ["runs", "list", "-e", exp], env=env)
    assert table.exit_code == 0 and "cli-run" in table.output
    experiments = runner.invoke(app, ["experiments", "list", "--json"], env=env)
    assert exp in [e["name"] for e in json.loads(experiments.output)]
    shown = runner.invoke(app, ["runs", "show", run.id[:8]], env=env)
    assert shown.exit_code == 0, shown.output
    assert "cli-run" in shown.output and "loss" in shown.output and "lgbm" in shown.output
    missing = runner.invoke(app, ["runs", "show", "ffffffffffff"], env=env)
    assert missing.exit_code != 0 and "No run with id" in missing.output

"""The stock retraining pipeline: newest data → validate → train → evaluate → gates →
register → canary, on the bundled loans data, a registered champion and a deployment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.data import make_loans
from shipyard.errors import InvalidInput

TARGET = "default"
DROP = ["application_id", "applied_at", "gender"]
MODEL = "loans-default"
ROWS = 800


def block_everything(
    candidate: Mapping[str, float], champion: Mapping[str, float], context: Mapping[str, Any]
) -> str | None:
    """A gate that blocks every candidate, naming what it saw."""
    return f"held for review (candidate auc {candidate['auc']:.3f}, run {context['run']})"


def let_through(
    candidate: Mapping[str, float], champion: Mapping[str, float], context: Mapping[str, Any]
) -> str | None:
    return None


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store with dataset ``loans`` (a first month, then a drifted one), its champion (a
    small tree, tracked and registered from the first month) and deployment ``loans``
    serving it with the challenger route idle in shadow; copied for each test."""
    root = tmp_path_factory.mktemp("retraining") / "shipyard-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(root))
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
            patch.delenv(var, raising=False)
        reset_settings()
        first = sy.datasets.register("loans", make_loans(ROWS, seed=0))
        trained = sy.train(
            DecisionTreeClassifier(max_depth=4, random_state=0),
            dataset=first.ref, target=TARGET, drop=DROP, experiment="champion",
        )  # fmt: skip
        champion = sy.models.register(MODEL, trained, aliases=["champion"])
        serving.deployments.create(
            "loans", {"champion": f"{MODEL}@champion", "challenger": champion.ref}, policy="shadow"
        )
        # drifted: outside the first month's observed ranges (logged, kept)
        sy.datasets.register("loans", make_loans(ROWS, seed=1, drift=0.3))
        reset_settings()
    yield root


@pytest.fixture
def loop(home: Path, template: Path) -> dict[str, str]:
    """A copy of the template's store as this test's ``SHIPYARD_HOME``."""
    shutil.copytree(template, home, dirs_exist_ok=True)
    reset_settings()
    return {"first": "loans@1", "later": "loans@2", "champion": f"{MODEL}@1"}


def _models() -> list[str]:
    return [v.ref for v in sy.models.versions(MODEL)]


def test_a_run_registers_a_candidate_with_lineage_and_puts_it_on_canary(
    loop: dict[str, str],
) -> None:
    version = sy.pipelines.retraining(
        deployment="loans", target=TARGET, dataset="loans", canary={"steps": [10, 50, 100]}
    )
    assert (version.name, version.params["dataset"]) == ("retrain-loans", "loans")

    run = sy.pipelines.run("retrain-loans", trigger={"kind": "alert", "alert": "al-42"})

    assert run.status == "succeeded", run.error
    assert [s.status for s in run.steps] == ["succeeded"] * 8
    candidate = sy.models.get(f"{MODEL}@latest")
    assert candidate.ref == f"{MODEL}@2"
    assert candidate.datasets == (loop["later"],)
    assert candidate.tags["pipeline_run"] == run.id
    assert candidate.tags["alert"] == "al-42"
    assert candidate.tags["champion"] == loop["champion"]
    assert run.id in (candidate.description or "") and "al-42" in (candidate.description or "")
    assert "holdout_auc" in candidate.metrics
    assert run.step("register").links == (f"model:{candidate.ref}",)
    scored = sy.pipelines.output(run.id, "evaluate")
    assert scored["metric"] == "auc" and scored["champion_ref"] == loop["champion"]
    assert scored["holdout_rows"] == ROWS // 5

    placed = serving.deployments.get("loans")
    assert placed.policy["kind"] == "canary" and placed.policy["status"] == "running"
    assert (placed.policy["baseline"], placed.policy["candidate"]) == ("champion", "challenger")
    assert placed.route("challenger").model == candidate.ref
    assert placed.split == {"champion": 90.0, "challenger": 10.0}
    assert sy.pipelines.output(run.id, "canary")["policy"]["candidate"] == "challenger"

    again = sy.pipelines.run("retrain-loans")  # the canary is still undecided: left alone

    assert again.status == "failed" and again.step("champion").status == "failed"
    assert "still trying 'challenger' as a canary" in (again.step("champion").error or "")
    assert _models() == [candidate.ref, loop["champion"]]
    changed = sy.pipelines.retraining(deployment="loans", target=TARGET, tolerance=0.05)
    assert changed.version == 2  # configured while the canary runs: it runs later


def test_the_data_the_champion_was_trained_on_is_not_new(loop: dict[str, str]) -> None:
    sy.pipelines.retraining(deployment="loans", target=TARGET, dataset=loop["first"])
    run = sy.pipelines.run("retrain-loans")

    assert run.status == "failed" and run.step("newest-data").status == "failed"
    assert "No new data: loans@1 is what the champion" in (run.step("newest-data").error or "")
    assert _models() == [loop["champion"]]


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"train": "deep"}, "train must be one of refit, automl"),
        ({"budget": 0}, "budget must be > 0"),
        ({"metric": "mape"}, "metric must be one of"),
        ({"tolerance": float("nan")}, "tolerance must be a finite number"),
        ({"holdout": 1.0}, "holdout must be a share"),
        ({"deployment": "nope"}, "deployment/dataset: No deployment named 'nope'"),
        ({"dataset": "nope"}, "deployment/dataset:"),
        ({"target": "income"}, "target: 'income' is an input"),
        ({"target": "outcome"}, "target: dataset 'loans' has no column 'outcome'"),
        ({"dataset": "loans@9"}, "deployment/dataset: "),
        ({"deployment": 3}, "deployment must be a name"),
        ({"gates": [lambda c, p, x: None]}, "gates: "),
        ({"gates": "mod:fn"}, "gates must be a list"),
        ({"canary": {"speed": 3}}, "canary: speed: not a parameter"),
        ({"name": "has space"}, "name must be"),
        ({"model": ""}, "model must be the name"),
        ({"strict": "yes"}, "strict must be true or false"),
    ],
)
def test_bad_configuration_is_refused_in_one_line_before_anything_is_registered(
    loop: dict[str, str], settings: dict[str, Any], named: str
) -> None:
    given: dict[str, Any] = {"deployment": "loans", "target": TARGET, "dataset": "loans"}
    with pytest.raises(InvalidInput) as caught:
        sy.pipelines.retraining(**{**given, **settings})
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)
    assert sy.pipelines.list_pipelines() == []


def test_blocking_gates_fail_a_run_by_name_in_another_process_and_register_nothing(
    loop: dict[str, str],
) -> None:
    first = sy.pipelines.retraining(deployment="loans", target=TARGET, dataset="loans")
    again = sy.pipelines.retraining(deployment="loans", target=TARGET, dataset="loans")
    changed = sy.pipelines.retraining(
        deployment="loans", target=TARGET, dataset="loans", tolerance=-0.5,
        gates=[let_through, block_everything],
    )  # fmt: skip
    assert first.version == again.version == 1  # the same configuration, the same version
    assert changed.version == 2 and changed.params["tolerance"] == -0.5

    script = (
        "import shipyard as sy; r = sy.pipelines.run('retrain-loans'); "
        "print(r.status, r.version, r.step('gate').status, r.step('register').status)"
    )
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}  # where the gate functions live
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.stdout.split() == ["failed", "2", "failed", "skipped"], done.stderr[-2000:]
    run = sy.pipelines.get_run(sy.pipelines.list_runs("retrain-loans")[0].id)
    error = run.step("gate").error or ""
    assert error.startswith("attempt 1: GateBlocked: the candidate is not promoted: auc ")
    assert "beyond the tolerance of -0.5" in error
    assert f"gate {__name__}:block_everything: held for review" in error
    assert f"run {run.id})" in error  # the gate saw its run in the context
    assert "let_through" not in error
    assert _models() == [loop["champion"]]
    assert serving.deployments.get("loans").policy["kind"] == "shadow"


def _log_traffic(rows: int) -> None:
    """Answers of deployment ``loans`` in its inference log, each with its outcome posted
    as feedback (written through the log, as a server writes them)."""
    features = sy.models.get(f"{MODEL}@1").signature.names  # type: ignore[union-attr]
    log = serving.InferenceLog.of("loans")
    frame = make_loans(rows, seed=2, drift=0.3)
    for number, record in enumerate(frame.to_dict("records")):
        columns = {c: np.asarray([record[c]]) for c in features}
        log.request(f"r{number}", "champion", MODEL, 1, 0.001, columns, np.asarray([0]), None)
        log.feedback(f"r{number}", label=int(record[TARGET]))
    log.request("unlabelled", "champion", MODEL, 1, 0.001, columns, np.asarray([0]), None)
    log.close()


def test_a_queued_run_retrains_on_the_labelled_inference_log(loop: dict[str, str]) -> None:
    _log_traffic(300)
    # 240 training rows make a noisy candidate: this test is about the log, not the gate
    sy.pipelines.retraining(deployment="loans", target=TARGET, tolerance=1.0)
    queued = sy.pipelines.enqueue("retrain-loans", trigger={"kind": "alert", "alert_id": "a-7"})
    assert queued.status == "queued"

    run = sy.pipelines.run_queued(queued.id)

    assert run is not None and run.status == "succeeded", run and run.error
    candidate = sy.models.get(f"{MODEL}@latest")
    assert candidate.tags["alert"] == "a-7"
    assert candidate.datasets == ("loans-labelled@1",)
    labelled = sy.datasets.get("loans-labelled@1")
    assert labelled.rows == 300 and labelled.tags["source"] == "inference-log"
    assert serving.deployments.get("loans").route("challenger").model == candidate.ref


@pytest.mark.slow
def test_automl_finds_the_candidate_within_its_budget(loop: dict[str, str]) -> None:
    sy.pipelines.retraining(
        deployment="loans", target=TARGET, dataset="loans", train="automl", budget=5,
        tolerance=1.0,
    )  # fmt: skip
    run = sy.pipelines.run("retrain-loans")

    assert run.status == "succeeded", run.error
    assert (run.step("train").duration or 0) < 5 + 20  # the search, plus imports and a refit
    candidate = sy.models.get(f"{MODEL}@latest")
    assert candidate.ref == f"{MODEL}@2" and candidate.tags["pipeline_run"] == run.id
    assert serving.deployments.get("loans").route("challenger").model == candidate.ref

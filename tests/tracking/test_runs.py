"""Runs through the SDK: experiments, nesting, params, tags, metric series, artifacts,
status, source and environment, resuming."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
import uuid
from importlib import metadata

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import shipyard as sy
from shipyard.config import reset_settings
from shipyard.errors import IntegrityError, InvalidInput, NotFound, ShipyardError
from shipyard.store import default_artifacts
from shipyard.tracking import download_artifact

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def history(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(p.step, p.value) for p in sy.get_metric_history(run_id, key)]


# -- experiments and nesting -----------------------------------------------------------


def test_experiment_is_created_once_and_counts_its_runs(backend):
    with sy.start_run(experiment="churn"):
        pass
    with sy.start_run(experiment="churn"):
        pass
    with sy.start_run():
        pass
    counts = {e.name: e.run_count for e in sy.list_experiments()}
    assert counts == {"churn": 2, "default": 1}


def test_nested_run_inherits_the_experiment(backend):
    with sy.start_run(experiment="tuning", name="sweep") as parent:
        assert sy.active_run() is parent
        with sy.start_run(name="trial-1") as child:
            assert sy.active_run() is child
            child.log_metric("auc", 0.8)
        with sy.start_run(name="trial-2") as second:
            pass
        assert sy.active_run() is parent
        with sy.start_run(experiment="other", name="loose", parent=None) as loose:
            pass
    assert sy.active_run() is None

    child_data = sy.get_run(child.id)
    assert child.experiment == child_data.experiment == "tuning"
    assert child_data.info.experiment_id == sy.get_run(parent.id).info.experiment_id
    assert child_data.info.parent_id == parent.id
    assert sy.get_run(parent.id).children == [child.id, second.id]
    assert sy.get_run(loose.id).info.parent_id is None
    assert sy.get_run(loose.id).experiment == "other"


def test_run_name_and_initial_tags(backend):
    with sy.start_run(experiment="e", name="baseline", tags={"team": "risk", "v": 2}) as run:
        pass
    with sy.start_run(experiment="e") as unnamed:
        pass
    data = sy.get_run(run.id)
    assert data.info.name == run.name == "baseline"
    assert data.tags == {"team": "risk", "v": "2"}
    assert sy.get_run(unnamed.id).info.name  # a generated name such as swift-heron-42


def test_get_run_by_unique_prefix(backend):
    with sy.start_run(experiment="e") as run:
        pass
    assert sy.get_run(run.id[:8]).info.id == run.id
    with pytest.raises(NotFound):
        sy.get_run("0" * 32)


# -- params, tags, metrics -------------------------------------------------------------


def test_params_and_tags(backend):
    with sy.start_run(experiment="e") as run:
        sy.log_param("model", "lgbm")
        sy.log_params({"lr": 0.05, "depth": 6, "balanced": True, "seed": None})
        sy.set_tag("stage", "dev")
        sy.set_tag("stage", "prod")  # tags can change
        run.set_tags({"owner": "ana"})
    data = sy.get_run(run.id)
    assert data.params == {
        "model": "lgbm",
        "lr": "0.05",
        "depth": "6",
        "balanced": "True",
        "seed": "None",
    }
    assert data.tags == {"stage": "prod", "owner": "ana"}


def test_metric_series_with_steps_and_timestamps(backend):
    with sy.start_run(experiment="e") as run:
        before = time.time()
        sy.log_metric("loss", 0.9)
        sy.log_metric("loss", 0.7)
        sy.log_metric("loss", 0.6)
        sy.log_metric("loss", 0.5, step=10)
        sy.log_metric("loss", 0.4)  # continues after the highest step
        sy.log_metric("lr", 0.1, step=3, timestamp=1_000.5)
        sy.log_metrics({"acc": 0.5, "f1": 0.4})
        sy.log_metrics({"acc": 0.6, "f1": 0.5}, step=7)
        after = time.time()
    assert history(run.id, "loss") == [(0, 0.9), (1, 0.7), (2, 0.6), (10, 0.5), (11, 0.4)]
    assert history(run.id, "acc") == [(0, 0.5), (7, 0.6)]
    assert history(run.id, "f1") == [(0, 0.4), (7, 0.5)]
    (lr,) = sy.get_metric_history(run.id, "lr")
    assert (lr.step, lr.value, lr.timestamp) == (3, 0.1, 1_000.5)
    for point in sy.get_metric_history(run.id, "loss"):
        assert before <= point.timestamp <= after
    assert sy.get_metric_history(run.id, "never-logged") == []


def test_latest_metric_is_the_highest_step(backend):
    with sy.start_run(experiment="e") as run:
        run.log_metric("auc", 0.7, step=5)
        run.log_metric("auc", 0.9, step=2)  # logged later, but an earlier step
        run.flush()
        run.log_metric("auc", 0.8, step=4)  # a later batch, still not the highest step
        run.log_metric("auc", 0.95, step=1)
        assert run.data().metrics["auc"].value == 0.7
    latest = sy.get_run(run.id).metrics["auc"]
    assert (latest.value, latest.step, latest.count) == (0.7, 5, 4)


def test_numpy_numbers_are_accepted(backend):
    with sy.start_run(experiment="e") as run:
        run.log_metric("x", np.float32(0.5), step=np.int64(2))
        run.log_metric("y", np.int32(3))
        run.log_param("n", np.int64(7))
    assert history(run.id, "x") == [(2, 0.5)]
    assert history(run.id, "y") == [(0, 3.0)]
    assert sy.get_run(run.id).params == {"n": "7"}


def test_logging_without_an_active_run_says_how_to_start_one(backend):
    for call in (
        lambda: sy.log_metric("auc", 0.9),
        lambda: sy.log_param("lr", 0.1),
        lambda: sy.set_tag("k", "v"),
        lambda: sy.log_artifact({"a": 1}),
        lambda: sy.end_run(),
    ):
        with pytest.raises(ShipyardError) as info:
            call()
        assert "No active run" in str(info.value)
        assert "sy.start_run()" in str(info.value)


def test_logging_after_the_run_ended_is_refused(backend):
    with sy.start_run(experiment="e") as run:
        run.log_metric("x", 1.0)
    with pytest.raises(InvalidInput, match="has ended"):
        run.log_metric("x", 2.0)
    with pytest.raises(InvalidInput, match="has ended"):
        run.log_param("p", 1)
    assert history(run.id, "x") == [(0, 1.0)]


# -- artifacts -------------------------------------------------------------------------


def test_file_and_folder_artifacts(backend, tmp_path):
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (folder / "sub" / "config.json").write_text('{"depth": 3}')
    with sy.start_run(experiment="e") as run:
        sy.log_artifact(report)
        sy.log_artifact(str(folder))
        sy.log_artifact(report, name="copies/report-again.csv")

    arts = {a.path: a for a in sy.get_run(run.id).artifacts}
    assert set(arts) == {
        "report.csv",
        "model/weights.bin",
        "model/sub/config.json",
        "copies/report-again.csv",
    }
    assert arts["report.csv"].digest == arts["copies/report-again.csv"].digest  # stored once
    assert arts["model/weights.bin"].size == 200
    assert sy.load_artifact(run.id, "report.csv") == b"a,b\n1,2\n"
    out = download_artifact(run.id, "model/sub/config.json", tmp_path / "dl" / "config.json")
    assert out.read_text() == '{"depth": 3}'
    with pytest.raises(NotFound) as info:
        sy.load_artifact(run.id, "missing.txt")
    assert "report.csv" in str(info.value)


def test_object_artifacts_round_trip(backend):
    frame = pd.DataFrame({"id": [1, 2, 3], "score": [0.1, 0.5, 0.9], "label": ["a", "b", "c"]})
    array = np.arange(12, dtype=np.float64).reshape(3, 4)
    figure = Figure()
    figure.add_subplot().plot([1, 2, 3], [3, 1, 2])
    with sy.start_run(experiment="e") as run:
        sy.log_artifact(frame, name="predictions")
        sy.log_artifact(array)
        sy.log_artifact({"threshold": 0.5, "classes": ["a", "b"]}, name="config")
        sy.log_artifact(figure, name="plots/roc")
        sy.log_artifact(b"\x00raw", name="blob")
        run.log_text("hello", "notes")

    kinds = {a.path: a.kind for a in sy.get_run(run.id).artifacts}
    assert kinds == {
        "predictions.parquet": "dataframe",
        "ndarray.npy": "ndarray",
        "config.json": "json",
        "plots/roc.png": "figure",
        "blob.bin": "bytes",
        "notes.txt": "text",
    }
    pd.testing.assert_frame_equal(sy.load_artifact(run.id, "predictions.parquet"), frame)
    loaded = sy.load_artifact(run.id, "ndarray.npy")
    assert loaded.dtype == array.dtype
    np.testing.assert_array_equal(loaded, array)
    assert sy.load_artifact(run.id, "config.json") == {"threshold": 0.5, "classes": ["a", "b"]}
    assert sy.load_artifact(run.id, "plots/roc.png").startswith(PNG_MAGIC)
    assert sy.load_artifact(run.id, "blob.bin") == b"\x00raw"
    assert sy.load_artifact(run.id, "notes.txt") == "hello"


@pytest.mark.parametrize(
    "item",
    [object(), 42, {1, 2}, np.float64(1.0).item, {"x": float("nan")}, {"x": object()}],
    ids=["object", "int", "set", "method", "json-nan", "json-object"],
)
def test_unsupported_objects_are_refused(backend, item):
    with sy.start_run(experiment="e") as run, pytest.raises(InvalidInput):
        sy.log_artifact(item)
    assert sy.get_run(run.id).artifacts == []


def test_missing_or_empty_artifact_paths_are_refused(backend, tmp_path):
    (tmp_path / "empty").mkdir()
    with sy.start_run(experiment="e") as run:
        with pytest.raises(InvalidInput, match="does not exist"):
            sy.log_artifact(tmp_path / "nope.csv")
        with pytest.raises(InvalidInput, match="holds no files"):
            sy.log_artifact(tmp_path / "empty")
    assert sy.get_run(run.id).artifacts == []


def test_a_corrupt_artifact_is_not_loaded(backend, tmp_path):
    with sy.start_run(experiment="e") as run:
        sy.log_artifact({"a": 1}, name="config")
    (info,) = sy.get_run(run.id).artifacts
    store = default_artifacts()
    (path,) = [p for p in store.fs.find(store.root) if p.endswith(info.digest)]
    store.fs.pipe_file(path, b'{"a": 2}')
    with pytest.raises(IntegrityError):
        sy.load_artifact(run.id, "config.json")
    with pytest.raises(IntegrityError):
        download_artifact(run.id, "config.json", tmp_path / "config.json")
    assert not (tmp_path / "config.json").exists()


# -- status and times ------------------------------------------------------------------


def test_finished_run_has_start_and_end_times(backend):
    before = time.time()
    with sy.start_run(experiment="e") as run:
        assert sy.get_run(run.id).info.status == "running"
        assert sy.get_run(run.id).info.end_time is None
        time.sleep(0.01)
    after = time.time()
    info = sy.get_run(run.id).info
    assert info.status == "finished"
    assert before <= info.start_time < info.end_time <= after
    assert info.duration == pytest.approx(info.end_time - info.start_time)
    assert info.duration >= 0.01


def test_exception_marks_the_run_failed_and_propagates(backend):
    with pytest.raises(ZeroDivisionError), sy.start_run(experiment="e") as run:
        run.log_metric("loss", 0.5)
        _ = 1 / 0
    data = sy.get_run(run.id)
    assert data.info.status == "failed"
    assert data.info.end_time is not None
    assert data.metrics["loss"].value == 0.5  # buffered points were still written
    assert sy.active_run() is None


def test_keyboard_interrupt_marks_the_run_killed(backend):
    with pytest.raises(KeyboardInterrupt), sy.start_run(experiment="e") as run:
        raise KeyboardInterrupt
    assert sy.get_run(run.id).info.status == "killed"


def test_end_run_with_a_status(backend):
    run = sy.start_run(experiment="e")
    sy.end_run("failed")
    assert sy.get_run(run.id).info.status == "failed"
    assert sy.active_run() is None
    run.end()  # a second end changes nothing
    assert sy.get_run(run.id).info.status == "failed"
    sy.start_run(experiment="e")
    with pytest.raises(InvalidInput, match="not a final status"):
        sy.end_run("paused")
    sy.end_run()


# -- source and environment ------------------------------------------------------------


def test_environment_is_recorded(backend):
    with sy.start_run(experiment="e") as run:
        pass
    env = sy.get_run(run.id).info.environment
    assert env["python"] == platform.python_version()
    assert env["packages"]["numpy"] == metadata.version("numpy")
    assert env["packages"]["pandas"] == metadata.version("pandas")
    assert env["packages"]["shipyard"] == sy.__version__


def git(repo, *args):
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.slow
def test_source_commit_and_dirty_flag_from_a_git_repository(
    backend, tmp_path, run_script, script_env
):
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "Test")
    train = repo / "train.py"
    train.write_text(
        "import shipyard as sy\nwith sy.start_run(experiment='src') as run:\n    print(run.id)\n"
    )
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    commit = git(repo, "rev-parse", "HEAD")

    def train_run() -> str:
        # Started from elsewhere: the script's own folder decides the repository.
        done = subprocess.run(
            [sys.executable, str(train)],
            cwd=tmp_path,
            env=script_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    clean = sy.get_run(train_run()).info
    assert (clean.source_commit, clean.source_dirty) == (commit, False)
    assert clean.entry_point == str(train)

    (repo / "untracked.txt").write_text("untracked files do not make it dirty")
    assert sy.get_run(train_run()).info.source_dirty is False

    train.write_text(train.read_text() + "# an edit that is not committed\n")
    dirty = sy.get_run(train_run()).info
    assert (dirty.source_commit, dirty.source_dirty) == (commit, True)

    outside = run_script("import shipyard as sy\nwith sy.start_run() as run: print(run.id)")
    info = sy.get_run(outside.stdout.strip()).info  # tmp_path is not a repository
    assert (info.source_commit, info.source_dirty) == (None, None)


# -- resuming --------------------------------------------------------------------------


def test_resume_a_run_by_id(backend):
    with sy.start_run(experiment="e", name="long") as run:
        for loss in (0.9, 0.8, 0.7):
            run.log_metric("loss", loss)
        run.log_param("lr", 0.1)
    with sy.start_run(run_id=run.id[:10]) as resumed:
        assert resumed.id == run.id
        assert resumed.experiment == "e"
        assert sy.get_run(run.id).info.status == "running"
        assert sy.get_run(run.id).info.end_time is None
        resumed.log_metric("loss", 0.6)  # continues at the next step
        resumed.log_param("lr", 0.1)  # same value: fine
    data = sy.get_run(run.id)
    assert data.info.status == "finished"
    assert history(run.id, "loss") == [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6)]
    assert data.metrics["loss"].count == 4
    with pytest.raises(NotFound):
        sy.start_run(run_id=uuid.uuid4().hex)


def test_memory_store_and_artifacts(home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_DB_URL", "memory://")
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"memory://shipyard-test-{uuid.uuid4().hex}")
    reset_settings()
    try:
        with sy.start_run(experiment="notebook") as run:
            run.log_metric("auc", 0.9)
            run.log_param("lr", 0.1)
            sy.log_artifact({"k": 1}, name="conf")
        assert sy.get_run(run.id).metrics["auc"].value == 0.9
        assert sy.load_artifact(run.id, "conf.json") == {"k": 1}
        assert list(sy.search_runs("notebook")["run_id"]) == [run.id]
        assert not home.exists()  # nothing written to disk
    finally:
        store = default_artifacts()
        store.fs.rm(store.root, recursive=True)

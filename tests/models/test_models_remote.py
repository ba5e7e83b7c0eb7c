"""The registry SDK and CLI in both modes: on a local store, and through a platform server
(``SHIPYARD_URL``: remote mode), with the same results: register, load, versions, aliases,
stages, rollback, history, compare, export, delete, trust checks, and the ``shipyard models``
commands.

The tests at the end move model files between machines (another home loads what this one
registered; the server exports or traces what a client registered): they need the artifact
store, tracking and datasets over HTTP as well, and run once those are in the tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import shipyard as sy
from shipyard import models
from shipyard.cli import app
from shipyard.config import get_settings, reset_settings
from shipyard.data import make_loans
from shipyard.errors import Conflict, Forbidden, InvalidInput, NotFound
from shipyard.models._api import _store
from shipyard.models._http import HttpModelBackend

NUMERIC = ["age", "income", "credit_score"]
runner = CliRunner()


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(400, seed=3)


@pytest.fixture(scope="module")
def small(loans: pd.DataFrame) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(
        loans[NUMERIC], loans["default"]
    )


@pytest.fixture
def name(request: pytest.FixtureRequest, mode: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A model name of this test's own (remote tests of a module share one server), and
    ``ann`` as the acting user."""
    monkeypatch.setenv("SHIPYARD_USER", "ann")
    return "m-" + request.node.originalname.removeprefix("test_")[:100]


def _register(name: str, model: Any, loans: pd.DataFrame, **kwargs: Any) -> models.ModelVersion:
    return models.register(name, model, X=loans[NUMERIC], y=loans["default"], **kwargs)


def _moves(name: str) -> list[tuple[Any, ...]]:
    return [(e.kind, e.version, e.before, e.after, e.actor, e.reason) for e in models.history(name)]


def test_register_read_and_load_give_the_same_results(mode, name, small, loans):
    first = _register(name, small, loans, tags={"team": "risk"}, metrics={"auc": 0.8})
    second = _register(name, small, loans, aliases=["challenger"], stage="staging")
    assert (first.ref, second.ref) == (f"{name}@1", f"{name}@2")
    assert models.get(name) == second and models.get(f"{name}@challenger") == second
    assert models.get(f"{name}@1") == first and models.get(f"{name}@staging") == second
    assert [v.version for v in models.versions(name)] == [2, 1]
    assert first.tags == {"team": "risk"} and first.metrics == {"auc": 0.8}
    assert first.signature is not None and first.signature.names == NUMERIC
    assert first.created_by == "ann" and first.environment == models.get(f"{name}@1").environment
    (summary,) = [m for m in models.list_models() if m.name == name]
    assert (summary.versions, summary.latest, summary.aliases) == (2, 2, {"challenger": 2})
    loaded = models.load(f"{name}@1")
    expected = small.predict_proba(loans[NUMERIC].head(50))[:, 1]
    np.testing.assert_allclose(loaded.predict_proba(loans.head(50))[:, 1], expected)
    assert models.sample(first) is not None
    if mode == "remote":  # the server holds the records, the client no registry
        server = get_settings().url
        assert httpx.get(f"{server}/api/models/{name}").json()["versions"] == 2
        assert isinstance(_store(), HttpModelBackend)
    else:
        assert isinstance(_store(), models.ModelStore)
    with pytest.raises(NotFound, match=rf"Model '{name}' has no version 9 \(latest is 2\)"):
        models.get(f"{name}@9")
    with pytest.raises(NotFound, match=r"No model named 'ghost-model'\. Try: shipyard models"):
        models.load("ghost-model")


def test_moves_history_and_rollback_are_the_local_ones(mode, name, small, loans):
    for _ in range(3):
        _register(name, small, loans)
    assert models.set_alias(f"{name}@1", "champion", reason="first pick").aliases == ("champion",)
    models.promote(f"{name}@1", reason="go")
    models.promote(f"{name}@2", reason="better")
    assert [v.stage for v in models.versions(name)] == ["none", "production", "archived"]
    assert models.rollback(name, reason="worse").version == 1
    with pytest.raises(Conflict, match="no earlier production version"):
        models.rollback(name)
    models.remove_alias(name, "champion", reason="retired")
    with pytest.raises(InvalidInput, match="Alias 'production' is reserved"):
        models.set_alias(f"{name}@1", "production")
    assert _moves(name)[:6] == [
        ("alias-removed", 1, "champion@1", None, "ann", "retired"),
        ("rollback", 1, "archived", "production", "ann", "worse"),
        ("stage", 2, "production", "archived", "ann", "replaced by version 1"),
        ("stage", 2, "none", "production", "ann", "better"),
        ("stage", 1, "production", "archived", "ann", "replaced by version 2"),
        ("stage", 1, "none", "production", "ann", "go"),
    ]
    assert len(models.history(name, limit=2)) == 2


def test_compare_export_and_delete(mode, name, small, loans):
    _register(name, small, loans, metrics={"auc": 0.7})
    _register(name, small, loans, metrics={"auc": 0.9})
    frame = models.compare([f"{name}@1", f"{name}@latest"])
    assert list(frame.columns) == [f"{name}@1", f"{name}@2"]
    assert frame.loc["metrics.auc"].tolist() == [0.7, 0.9] and frame.index[0] == "metrics.auc"
    exported = models.export(f"{name}@2", "onnx")
    assert exported.exports["onnx"].report["max_abs_diff"] < 1e-4
    assert models.get(f"{name}@2").exports.keys() == {"onnx"}
    onnx = models.load(f"{name}@2", format="onnx")
    np.testing.assert_allclose(
        onnx.predict_proba(loans.head(20)), small.predict_proba(loans[NUMERIC].head(20)), atol=1e-4
    )
    assert _moves(name)[0][:5] == ("exported", 2, None, "onnx", "ann")
    models.promote(f"{name}@2")
    with pytest.raises(Conflict, match="is in use"):
        models.delete(f"{name}@2")
    assert models.delete(f"{name}@2", force=True).version == 2
    assert models.register(name, small, X=loans[NUMERIC]).version == 3  # never reused
    assert models.delete_model(name) == 2
    with pytest.raises(NotFound):
        models.versions(name)


PLANTED = """
import numpy as np
import shipyard as sy


class Doubler(sy.models.PythonModel):
    def predict(self, df):
        return df["x"].to_numpy() * 2
"""


def test_a_pickle_another_process_registered_needs_trust(mode, name, tmp_path, monkeypatch):
    # a module name of its own: another test file's ``planted`` must not be shadowed by it
    monkeypatch.delitem(sys.modules, "remote_doubler", raising=False)
    (tmp_path / "remote_doubler.py").write_text(PLANTED)
    script = f"""
        import pandas as pd, shipyard as sy
        from remote_doubler import Doubler
        sy.models.register({name!r}, Doubler(), X=pd.DataFrame({{"x": [1.0, 2.0]}}))
    """
    env = {**os.environ, "SHIPYARD_USER": "mallory"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("SHIPYARD_TRUSTED_REGISTRANTS", raising=False)
    version = models.get(f"{name}@1")
    assert version.created_by == "mallory" and not models.is_trusted(version)
    with pytest.raises(Forbidden, match=rf"{name}@1 is a pickle registered by 'mallory'"):
        models.load(f"{name}@1")
    monkeypatch.setenv("SHIPYARD_TRUSTED_REGISTRANTS", "bob,mallory")
    assert models.is_trusted(version)
    monkeypatch.delenv("SHIPYARD_TRUSTED_REGISTRANTS")
    models.trust_version(version.id, version.digest)
    assert models.load(f"{name}@1").predict({"x": 4.0}).tolist() == [8.0]
    monkeypatch.delitem(sys.modules, "remote_doubler", raising=False)


# -- the command line -----------------------------------------------------------------------


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_models_commands(mode, name, small, loans):
    _register(name, small, loans)
    _register(name, small, loans)
    listed = json.loads(_cli("models", "list", "--json"))
    assert [m["versions"] for m in listed if m["name"] == name] == [2]
    assert name in _cli("models", "list")
    shown = json.loads(_cli("models", "show", f"{name}@1", "--json"))
    assert (shown["ref"], shown["flavor"], shown["history"][0]["kind"]) == (
        f"{name}@1",
        "sklearn",
        "registered",
    )
    assert "Signature: classification" in _cli("models", "show", name)
    assert "is now in" in _cli("models", "promote", name, "1", "--reason", "first")
    promoted = json.loads(_cli("models", "promote", f"{name}@2", "--json"))
    assert promoted["stage"] == "production"
    back = json.loads(_cli("models", "rollback", name, "--reason", "worse", "--json"))
    assert (back["ref"], back["stage"], back["previous"]) == (f"{name}@1", "production", 2)
    _cli("models", "promote", name, "2")
    assert f"{name}: production 2 → 1" in _cli("models", "rollback", name)
    failed = runner.invoke(app, ["models", "show", f"{name}@7"])
    assert failed.exit_code != 0 and "has no version 7 (latest is 2)" in failed.output


# -- between machines: the artifact store, runs and datasets over HTTP ---------------------


def test_another_home_loads_what_this_one_registered(remote, small, loans, tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_USER", "ann")
    made = _register("between-homes", small, loans)
    models.export(made.ref, "onnx")
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "other-home"))
    reset_settings()
    assert models.get("between-homes@1").digest == made.digest
    loaded = models.load("between-homes@1")
    np.testing.assert_allclose(
        loaded.predict_proba(loans.head(20)), small.predict_proba(loans[NUMERIC].head(20))
    )
    assert models.load("between-homes@1", format="onnx").format == "onnx"
    assert models.sample("between-homes@1") is not None


def test_the_server_exports_and_traces_what_a_client_registered(remote, small, loans):
    sy.datasets.register("remote-loans", loans)
    with sy.start_run(experiment="remote-registry") as run:
        sy.log_params({"C": 1.0})
        made = models.register(
            "traced", small, X=loans[NUMERIC], y=loans["default"], datasets=["remote-loans@1"]
        )
    assert made.run_id == run.id and made.datasets == ("remote-loans@1",)
    assert [v.ref for v in models.trained_on("remote-loans@1")] == ["traced@1"]
    with httpx.Client(base_url=f"{remote}/api", timeout=120) as api:
        lineage = api.get("/models/traced/versions/1/lineage").json()
        assert lineage["run"]["params"] == {"C": "1.0"}
        assert [d["ref"] for d in lineage["datasets"]] == ["remote-loans@1"]
        done = api.post("/models/traced/versions/1/export", json={"format": "onnx"})
        assert done.status_code == 200, done.text
    assert models.load("traced@1", format="onnx").format == "onnx"

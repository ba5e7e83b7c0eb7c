"""The model registry SDK on every backend: flavors, references, the load cache, aliases,
stages, rollback, deletes, safe serialization, lineage, environments and concurrency."""

from __future__ import annotations

import json
import pickle
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import sklearn
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sqlalchemy import column, table, update

import shipyard as sy
from shipyard import models
from shipyard.data import make_loans
from shipyard.errors import Conflict, IntegrityError, InvalidInput, NotFound
from shipyard.store import default_artifacts, default_database
from shipyard.testing import flavors

NUMERIC = ["age", "income", "credit_score", "debt_to_income", "late_payments"]
CATEGORIES = ["gender", "education", "home_ownership", "purpose", "region"]


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(800, seed=7).drop(columns=["application_id", "applied_at"])


@pytest.fixture(scope="module")
def X(loans: pd.DataFrame) -> pd.DataFrame:
    return loans.drop(columns=["default"])


@pytest.fixture(scope="module")
def y(loans: pd.DataFrame) -> pd.Series:
    return loans["default"]


def _classifier() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression())


@pytest.fixture(scope="module")
def small(X: pd.DataFrame, y: pd.Series) -> Pipeline:
    """A quick classifier for the tests about the registry's records rather than flavors."""
    return _classifier().fit(X[NUMERIC], y)


@pytest.fixture
def register(small: Pipeline, X: pd.DataFrame, y: pd.Series) -> Callable[..., Any]:
    """Register ``small`` as a new version of ``name``."""

    def go(name: str = "churn", **kwargs: Any) -> models.ModelVersion:
        return models.register(name, small, X=X[NUMERIC], y=y, **kwargs)

    return go


def _stages(name: str) -> dict[int, str]:
    return {v.version: v.stage for v in models.versions(name)}


def _blob_path(digest: str) -> str:
    store = default_artifacts()
    (path,) = [p for p in store.fs.find(store.root) if p.endswith(digest)]
    return str(path)


# -- flavors ------------------------------------------------------------------------------


# The flavors' own examples and the checks every flavor passes (register, load, the same
# predictions) run over the flavor table in test_flavor_contract.py.


@pytest.fixture(scope="module")
def fitted() -> Callable[[str], tuple[Any, pd.DataFrame]]:
    """A flavor example's model (by example name), fitted once, with its training inputs."""
    examples = {example.name: example for _, example in flavors.cases()}
    return lambda case: flavors.fitted(examples[case])


@pytest.mark.parametrize("case", ["sklearn", "lightgbm", "xgboost"])
def test_inputs_in_another_column_order_still_predict_like_the_model(
    home, fitted, small, X, y, case
):
    # X given in another order than the model was fitted on (a frame rebuilt from a dict,
    # say): the model must still be fed its own columns, not the same values shuffled.
    model, inputs = (small, X[NUMERIC]) if case == "sklearn" else fitted(case)
    shuffled = inputs[list(reversed(inputs.columns))]
    models.register(case, model, X=shuffled, y=y)
    loaded = models.load(f"{case}@1")
    rows = inputs.head(200)
    np.testing.assert_allclose(
        loaded.predict_proba(rows), model.predict_proba(rows), rtol=1e-6, atol=1e-7
    )


def test_columns_the_model_does_not_use_are_left_out_of_the_signature(home, small, X, y):
    # Registering with the whole training frame (as from a dataset): the signature is the
    # model's own columns, as with datasets=[...], and predictions work.
    v = models.register("churn", small, X=X, y=y)
    assert v.signature is not None and v.signature.names == NUMERIC
    rows = X.head(20)
    np.testing.assert_array_equal(
        models.load("churn@1").predict(rows), small.predict(rows[NUMERIC])
    )


def test_hist_gradient_boosting_on_category_columns_registers_with_defaults(home, X, y):
    # scikit-learn's own estimator on the package's own data, default settings: it holds
    # scikit-learn's check_array wrapped in functools.partial (categorical_features
    # "from_dtype"), which should not need the user's trust.
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y)
    v = models.register("hgb", model, X=X, y=y)
    loaded = models.load(v.ref)
    np.testing.assert_allclose(loaded.predict_proba(X.head(100)), model.predict_proba(X.head(100)))


class RegionRate(models.PythonModel):
    """Default rate by region, read from a file stored with the version."""

    def __init__(self) -> None:
        self.rates: dict[str, float] | None = None

    def load(self, artifacts: dict[str, Path]) -> None:
        self.rates = json.loads(Path(artifacts["rates"]).read_text())

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        assert self.rates is not None, "load() was not called"
        return np.array([self.rates[str(r)] for r in df["region"]])


def test_a_python_model_keeps_its_artifacts_and_requirements(backend, X, y, tmp_path):
    rates = {r: round(float(y[X["region"] == r].mean()), 4) for r in X["region"].cat.categories}
    source = tmp_path / "rates.json"
    source.write_text(json.dumps(rates))
    v = models.register(
        "rates",
        RegionRate(),
        X=X[["region"]],
        artifacts={"rates": source},
        requirements=["pyarrow>=15", "my-features>=2.1"],
    )
    assert v.flavor == "python" and v.flavor_meta["format"] == "pickle"
    assert set(v.flavor_meta["artifacts"]) == {"rates"}
    assert v.environment["requirements"] == ["pyarrow>=15", "my-features>=2.1"]
    assert "pyarrow" in v.environment["packages"]
    assert "my-features" not in v.environment["packages"]  # not installed: kept as given only

    source.unlink()  # the stored copy is what load() hands over
    loaded = models.load("rates")
    assert loaded.native.rates == rates
    rows = X[["region"]].head(50)
    expected = [rates[str(r)] for r in rows["region"]]
    np.testing.assert_array_equal(loaded.predict(rows), expected)
    assert loaded.predict({"region": "west"}).tolist() == [rates["west"]]
    with pytest.raises(InvalidInput, match="unknown category 'mars'"):
        loaded.predict({"region": "mars"})


# -- references and the load cache -------------------------------------------------------


def test_load_by_number_alias_stage_and_latest(backend, register, X):
    for _ in range(3):
        register()
    models.set_alias("churn@1", "champion")
    models.promote("churn@2", to="production")
    expected = {
        "churn@1": 1,
        "churn@v1": 1,
        "churn@champion": 1,
        "churn@production": 2,
        "churn@latest": 3,
        "churn": 3,
    }
    for ref, number in expected.items():
        assert models.load(ref).version.version == number, ref
        assert models.get(ref).version == number, ref
    assert models.load("churn@1").predict(X[NUMERIC].head(5)).shape == (5,)

    with pytest.raises(NotFound, match=r"no version 9 \(latest is 3\)"):
        models.load("churn@9")
    with pytest.raises(NotFound, match=r"no alias 'gold' \(aliases: champion"):
        models.load("churn@gold")
    with pytest.raises(NotFound, match="no version in stage 'staging'"):
        models.load("churn@staging")
    with pytest.raises(NotFound, match="No model named 'ghost'"):
        models.load("ghost@1")


def test_repeat_loads_come_from_the_cache_and_moved_aliases_are_followed(backend, register):
    register()
    register()
    first = models.load("churn@1")
    assert models.load("churn@1") is first
    assert models.load("churn@v1") is first
    models.set_alias("churn@1", "champion")
    aliased = models.load("churn@champion")
    # Not loaded again: the same model, described by the fresh record (aliases, stage).
    assert aliased.native is first.native and aliased.version.aliases == ("champion",)
    assert models.load("churn@1") is aliased

    models.set_alias("churn@2", "champion")
    moved = models.load("churn@champion")
    assert moved.version.version == 2 and moved.native is not first.native
    assert models.load("churn@2") is moved

    models.clear_cache()
    assert models.load("churn@1").native is not first.native


def test_a_deleted_version_is_not_served_from_the_cache(backend, register):
    register()
    register()
    models.load("churn@1")
    models.delete("churn@1")
    with pytest.raises(NotFound, match="no version 1"):
        models.load("churn@1")


def test_list_models_summarises_each_model(backend, register):
    register()
    register(aliases=["champion"], stage="production")
    register("fraud")
    summary = {m.name: m for m in models.list_models()}
    assert list(summary) == ["churn", "fraud"]
    churn = summary["churn"]
    assert (churn.versions, churn.latest, churn.production, churn.aliases) == (
        2,
        2,
        2,
        {"champion": 2},
    )
    assert (summary["fraud"].versions, summary["fraud"].production) == (1, None)


def test_a_loaded_model_checks_its_inputs_by_name(backend, register, X):
    register()
    loaded = models.load("churn")
    assert repr(loaded) == "<LoadedModel churn@1 sklearn (native)>"
    record = X[NUMERIC].iloc[0].to_dict()
    assert loaded.predict(record).shape == (1,)
    with pytest.raises(InvalidInput, match="Column 'age': expected int values, got str 'old'"):
        loaded.predict({**record, "age": "old"})
    with pytest.raises(InvalidInput, match="Missing column 'income'"):
        loaded.predict_proba({k: v for k, v in record.items() if k != "income"})


def test_tags_description_and_a_signature_read_from_the_model(backend, small, X):
    v = models.register("churn", small, tags={"team": "risk", "folds": 5}, description="first")
    assert (v.tags, v.description, v.sample_digest) == (
        {"team": "risk", "folds": "5"},
        "first",
        None,
    )
    assert v.signature is not None and v.signature.names == NUMERIC  # its feature_names_in_
    assert models.get("churn@1").tags == {"team": "risk", "folds": "5"}
    loaded = models.load("churn@1")
    rows = X[NUMERIC].head(5)
    np.testing.assert_array_equal(loaded.predict(rows), small.predict(rows))
    with pytest.raises(InvalidInput, match="tag key 'bad key!' is not valid"):
        models.register("churn", small, tags={"bad key!": 1})
    assert [v.version for v in models.versions("churn")] == [1]


class FirstColumnTwice:
    """A model that records nothing about its inputs."""

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0] * 2


def test_a_version_without_signature_is_said_in_one_line(backend, X, caplog):
    v = models.register("doubler", FirstColumnTwice())
    assert (v.signature, v.sample_digest) == (None, None)
    (said,) = [r.getMessage() for r in caplog.records if r.name == "shipyard.models"]
    assert said == (
        "Model 'doubler': the FirstColumnTwice records no inputs, so the version has no "
        "signature: it cannot be exported to ONNX or served (predict is unchecked). Register "
        "it with X=<training inputs> (or signature=...)."
    )
    loaded = models.load("doubler@1")  # predicts on what it is given, unchecked
    rows = X[NUMERIC].head(5)
    np.testing.assert_array_equal(loaded.predict(rows), rows["age"].to_numpy() * 2.0)
    with pytest.raises(InvalidInput, match="registered without a signature"):
        loaded.validate(rows)


def test_a_model_trained_on_an_array_takes_positional_columns(backend, X, y):
    array = X[NUMERIC].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(array, y)
    v = models.register("churn", model, X=array, y=y)
    assert v.signature is not None
    assert v.signature.names == [f"x{i}" for i in range(len(NUMERIC))]
    loaded = models.load("churn@1")
    np.testing.assert_array_equal(loaded.predict(array[:50]), model.predict(array[:50]))
    record = {f"x{i}": value for i, value in enumerate(array[0])}
    np.testing.assert_array_equal(loaded.predict(record), model.predict(array[:1]))


# -- numbers, aliases, stages -------------------------------------------------------------


def test_version_numbers_are_never_reused_after_delete(backend, register):
    for _ in range(3):
        register()
    models.delete("churn@3")
    assert register().version == 4
    models.delete("churn@4")
    models.delete("churn@2")
    assert register().version == 5
    assert [v.version for v in models.versions("churn")] == [5, 1]
    (summary,) = models.list_models()
    assert (summary.versions, summary.latest) == (2, 5)


def test_alias_moves_are_recorded_with_who_when_and_why(backend, register, monkeypatch):
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    register()
    register()
    before = time.time()
    assert models.set_alias("churn@1", "champion", reason="best auc").aliases == ("champion",)
    models.set_alias("churn@2", "champion", reason="retrained on May data")
    models.set_alias("churn@2", "champion", reason="again")  # already there: no event
    assert models.get("churn@1").aliases == ()
    assert models.get("churn@champion").version == 2
    models.remove_alias("churn", "champion", reason="retired")
    after = time.time()

    moves = [e for e in models.history("churn") if e.kind.startswith("alias")]
    assert [(e.kind, e.version, e.before, e.after, e.reason) for e in moves] == [
        ("alias-removed", 2, "champion@2", None, "retired"),
        ("alias", 2, "champion@1", "champion@2", "retrained on May data"),
        ("alias", 1, None, "champion@1", "best auc"),
    ]
    assert all(e.actor == "alice" and before <= e.at <= after for e in moves)
    assert all(e.model == "churn" for e in moves)
    with pytest.raises(NotFound, match="no alias 'champion'"):
        models.get("churn@champion")
    with pytest.raises(NotFound, match="no alias 'champion' to remove"):
        models.remove_alias("churn", "champion")


def test_registration_records_its_aliases_stage_and_reason(backend, register, monkeypatch):
    monkeypatch.setenv("SHIPYARD_USER", "bob")
    v = register(aliases=["challenger"], stage="staging", reason="nightly retrain")
    assert (v.aliases, v.stage, v.created_by) == (("challenger",), "staging", "bob")
    kinds = {(e.kind, e.after, e.reason) for e in models.history("churn")}
    assert kinds == {
        ("registered", "sklearn", "nightly retrain"),
        ("alias", "challenger@1", "nightly retrain"),
        ("stage", "staging", "nightly retrain"),
    }


@pytest.mark.parametrize(
    "alias", ["latest", "production", "staging", "archived", "none", "3", "v3", "V3"]
)
def test_reserved_aliases_are_refused(backend, register, alias):
    register()
    with pytest.raises(InvalidInput, match=f"Alias '{alias}' is reserved"):
        models.set_alias("churn@1", alias)
    with pytest.raises(InvalidInput, match="is reserved"):
        register(aliases=[alias])
    assert [v.version for v in models.versions("churn")] == [1]
    assert models.get("churn@1").aliases == ()


@pytest.mark.parametrize("alias", ["", "two words", "a/b", "x" * 65])
def test_malformed_aliases_are_refused(home, register, alias):
    register()
    with pytest.raises(InvalidInput, match="is not valid"):
        models.set_alias("churn@1", alias)


def test_an_alias_on_a_deleted_version_is_not_found(backend, register):
    register()
    register()
    models.delete("churn@2")
    with pytest.raises(NotFound, match=r"no version 2 \(latest is 1\)"):
        models.set_alias("churn@2", "champion")
    (summary,) = models.list_models()
    assert summary.aliases == {}
    with pytest.raises(NotFound, match="no alias 'champion'"):
        models.get("churn@champion")


def test_promoting_to_production_archives_the_previous_one(backend, register):
    for _ in range(3):
        register()
    models.promote("churn@1", reason="first")
    assert _stages("churn") == {3: "none", 2: "none", 1: "production"}
    models.promote("churn@2", to="staging")
    assert _stages("churn") == {3: "none", 2: "staging", 1: "production"}
    v = models.promote("churn@2", reason="better auc")
    assert v.stage == "production"
    assert _stages("churn") == {3: "none", 2: "production", 1: "archived"}
    assert models.get("churn@production").version == 2

    events = [(e.kind, e.version, e.before, e.after, e.reason) for e in models.history("churn")]
    assert events[:3] == [
        ("stage", 2, "staging", "production", "better auc"),
        ("stage", 1, "production", "archived", "replaced by version 2"),
        ("stage", 2, "none", "staging", None),
    ]
    with pytest.raises(InvalidInput, match="stage must be one of"):
        models.promote("churn@3", to="prod")


def test_rollback_steps_back_one_production_version_at_a_time(backend, register):
    for _ in range(4):
        register()
    for number in (1, 2, 3):
        models.promote(f"churn@{number}")

    back = models.rollback("churn", reason="auc dropped")
    assert (back.version, back.stage) == (2, "production")
    assert _stages("churn") == {4: "none", 3: "archived", 2: "production", 1: "archived"}
    last = models.history("churn")[0]
    assert (last.kind, last.version, last.after, last.reason) == (
        "rollback",
        2,
        "production",
        "auc dropped",
    )

    assert models.rollback("churn").version == 1  # a second rollback goes back one more
    assert _stages("churn") == {4: "none", 3: "archived", 2: "archived", 1: "production"}
    with pytest.raises(Conflict, match=r"no earlier production version .*production now: 1"):
        models.rollback("churn")
    assert models.get("churn@production").version == 1

    models.promote("churn@4")
    assert models.rollback("churn").version == 1  # the one in production before 4
    assert [n for n, s in _stages("churn").items() if s == "production"] == [1]


def test_rollback_skips_deleted_versions(backend, register):
    for _ in range(3):
        register()
    for number in (1, 2, 3):
        models.promote(f"churn@{number}")
    models.delete("churn@2")
    assert models.rollback("churn").version == 1


def test_rollback_without_an_earlier_production_version_is_a_conflict(backend, register):
    register()
    with pytest.raises(Conflict, match="production now: none"):
        models.rollback("churn")
    models.promote("churn@1")
    with pytest.raises(Conflict, match="Try: shipyard models promote churn"):
        models.rollback("churn")
    assert _stages("churn") == {1: "production"}
    with pytest.raises(NotFound, match="No model named 'ghost'"):
        models.rollback("ghost")


# -- delete -------------------------------------------------------------------------------


def test_delete_refuses_a_version_in_use_unless_forced(backend, register):
    for _ in range(3):
        register()
    models.promote("churn@2")
    models.set_alias("churn@3", "champion")
    with pytest.raises(Conflict, match=r"churn@2 is in use \(stage production\)"):
        models.delete("churn@2")
    with pytest.raises(Conflict, match=r"churn@3 is in use \(alias 'champion'\)"):
        models.delete("churn@3")
    assert [v.version for v in models.versions("churn")] == [3, 2, 1]

    deleted = models.delete("churn@3", force=True, reason="leaked labels")
    assert deleted.version == 3 and deleted.aliases == ("champion",)
    (summary,) = models.list_models()
    assert summary.aliases == {}
    with pytest.raises(NotFound, match="no alias 'champion'"):
        models.get("churn@champion")
    events = [(e.kind, e.version, e.before, e.reason) for e in models.history("churn")[:2]]
    assert events == [
        ("deleted", 3, "none", "leaked labels"),
        ("alias-removed", 3, "champion@3", "version deleted"),
    ]

    models.delete("churn@2", force=True)
    with pytest.raises(NotFound, match="no version in stage 'production'"):
        models.get("churn@production")
    assert models.delete("churn@1").version == 1
    assert models.versions("churn") == []
    # The history outlives the versions.
    assert {e.kind for e in models.history("churn")} >= {"registered", "deleted"}


def test_delete_needs_a_version_and_delete_model_removes_everything(backend, register):
    register()
    register()
    with pytest.raises(InvalidInput, match="Name the version to delete"):
        models.delete("churn")
    assert models.delete_model("churn") == 2
    assert models.list_models() == []
    with pytest.raises(NotFound, match="No model named 'churn'"):
        models.history("churn")


# -- what registration refuses -----------------------------------------------------------


@pytest.mark.parametrize("name", ["", "1churn", "churn model", "a/b", "churn@2", "x" * 129, None])
def test_bad_names_are_refused(home, small, X, name):
    with pytest.raises(InvalidInput, match=r"Model name .* is not valid"):
        models.register(name, small, X=X[NUMERIC])
    assert models.list_models() == []


@pytest.mark.parametrize(
    "model",
    [
        LogisticRegression(),
        make_pipeline(StandardScaler(), LogisticRegression()),
        lgb.LGBMClassifier(n_jobs=1),
        xgb.XGBClassifier(n_jobs=1),
    ],
    ids=["sklearn", "pipeline", "lightgbm", "xgboost"],
)
def test_an_unfitted_model_is_refused(home, X, model):
    with pytest.raises(InvalidInput, match=f"{type(model).__name__} is not fitted"):
        models.register("churn", model, X=X[NUMERIC])
    assert models.list_models() == []


class NoPredict:
    def fit(self, X: Any, y: Any) -> NoPredict:
        return self


def test_an_object_without_predict_is_refused(home, X):
    with pytest.raises(InvalidInput, match=r"No flavor knows how to save a .*NoPredict") as e:
        models.register("churn", NoPredict(), X=X[NUMERIC])
    assert "predict method" in str(e.value)
    with pytest.raises(InvalidInput, match="Unknown flavor 'keras'"):
        models.register("churn", NoPredict(), flavor="keras")
    assert models.list_models() == []


def test_a_model_class_defined_in_a_function_is_refused(home, X):
    class Local(models.PythonModel):
        def predict(self, df: Any) -> Any:
            return np.zeros(len(df))

    with pytest.raises(InvalidInput, match=r"cannot be pickled.*module level"):
        models.register("churn", Local(), X=X[NUMERIC])


# -- safe serialization ------------------------------------------------------------------


def log_income(frame: pd.DataFrame) -> pd.DataFrame:
    """A module-level function a FunctionTransformer calls."""
    return frame.assign(income=np.log1p(frame["income"]))


@pytest.fixture(scope="module")
def with_function(X: pd.DataFrame, y: pd.Series) -> Pipeline:
    steps = (FunctionTransformer(log_income), StandardScaler(), LogisticRegression())
    return make_pipeline(*steps).fit(X[NUMERIC], y)


def test_skops_refuses_an_untrusted_function_until_it_is_trusted(backend, with_function, X, y):
    name = f"{log_income.__module__}.{log_income.__qualname__}"
    with pytest.raises(InvalidInput, match="trusted=") as e:
        models.register("churn", with_function, X=X[NUMERIC], y=y)
    assert name in str(e.value)
    assert models.list_models() == []

    v = models.register("churn", with_function, X=X[NUMERIC], y=y, trusted=[name])
    assert v.version == 1 and v.flavor_meta["format"] == "skops"
    assert name in v.flavor_meta["trusted"]
    loaded = models.load("churn@1")
    rows = X[NUMERIC].head(100)
    np.testing.assert_allclose(loaded.predict_proba(rows), with_function.predict_proba(rows))


@pytest.mark.parametrize("function", [eval, exec, __import__], ids=lambda f: f.__name__)
def test_skops_does_not_trust_builtin_functions_unasked(home, X, y, function):
    # Only scikit-learn, NumPy and SciPy types are trusted without the user naming them;
    # a reference to eval, exec or __import__ is not one of those.
    # Steps fitted one by one: fitting the whole pipeline would call the function.
    transformer = FunctionTransformer(function).fit(X[NUMERIC])
    model = make_pipeline(transformer, _classifier().fit(X[NUMERIC].to_numpy(), y))
    with pytest.raises(InvalidInput, match=f"builtins.{function.__name__}"):
        models.register("churn", model, X=X[NUMERIC])
    assert models.list_models() == []


def test_pickle_serialization_when_asked(backend, with_function, X, y):
    v = models.register("churn", with_function, X=X[NUMERIC], y=y, serialization="pickle")
    assert v.flavor_meta["format"] == "pickle"
    loaded = models.load("churn@1")
    rows = X[NUMERIC].head(100)
    np.testing.assert_allclose(loaded.predict_proba(rows), with_function.predict_proba(rows))
    with pytest.raises(InvalidInput, match="serialization must be 'skops' or 'pickle'"):
        models.register("churn", with_function, X=X[NUMERIC], serialization="json")


TRIPPED: list[str] = []


def _trip() -> None:
    TRIPPED.append("deserialized")


class Tripwire:
    """Unpickling it calls ``_trip``: proof that bytes were deserialized."""

    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        return (_trip, ())


@pytest.mark.parametrize("kind", ["python", "sklearn-pickle", "sklearn-skops"])
def test_a_corrupted_artifact_is_refused_before_it_is_deserialized(backend, X, small, kind):
    if kind == "python":
        v = models.register("churn", RegionRate(), X=X[["region"]])
    else:
        v = models.register(
            "churn", small, X=X[NUMERIC], serialization=kind.removeprefix("sklearn-")
        )
    payload = pickle.dumps(Tripwire())
    pickle.loads(payload)
    assert TRIPPED == ["deserialized"]  # the payload would run code if it were loaded
    TRIPPED.clear()

    default_artifacts().fs.pipe_file(_blob_path(v.digest), payload)
    with pytest.raises(IntegrityError, match=f"sha256:{v.digest} .* is corrupt"):
        models.load("churn@1")
    assert TRIPPED == []


# -- lineage ------------------------------------------------------------------------------


def test_registering_in_a_run_records_its_lineage(backend, loans):
    sy.datasets.register("loans", loans)
    with sy.start_run(experiment="registry") as run:
        data = sy.datasets.get("loans@1").to_pandas()
        model = _classifier().fit(data[NUMERIC], data["default"])
        sy.log_params({"C": 1.0})
        sy.log_metrics({"auc": 0.81, "logloss": 0.42})
        v = models.register("churn", model, X=data[NUMERIC], y=data["default"])
    assert v.run_id == run.id
    assert v.metrics == {"auc": 0.81, "logloss": 0.42}
    assert v.datasets == ("loans@1",)
    assert v.signature is not None and v.signature.target == "default"
    assert models.get("churn@1").datasets == ("loans@1",)

    # A run given by id after it ended, plus metrics of the caller's own.
    again = models.register("churn", model, X=data[NUMERIC], run=run.id, metrics={"f1": 0.5})
    assert again.run_id == run.id
    assert again.metrics == {"auc": 0.81, "logloss": 0.42, "f1": 0.5}
    assert again.datasets == ("loans@1",)
    with pytest.raises(NotFound):
        models.register("churn", model, run="0" * 32)


def test_the_signature_comes_from_the_dataset_when_there_is_no_X(backend, loans):
    sy.datasets.register("loans", loans)
    model = _classifier().fit(loans[NUMERIC], loans["default"])
    v = models.register("churn", model, datasets=["loans@1"])
    assert v.datasets == ("loans@1",)
    assert v.signature is not None and v.signature.names == NUMERIC
    assert v.signature.task == "classification" and v.signature.classes == (0, 1)
    assert v.sample_digest is not None
    loaded = models.load("churn@1")
    np.testing.assert_array_equal(
        loaded.predict(loans.head(20)), model.predict(loans[NUMERIC].head(20))
    )
    with pytest.raises(NotFound):
        models.register("churn", model, datasets=["loans@9"])


# -- environment --------------------------------------------------------------------------


def test_the_environment_is_captured(home, register, fitted, y):
    v = register()
    env = v.environment
    assert env["python"] == platform.python_version()
    assert env["packages"]["scikit-learn"] == sklearn.__version__
    assert {"numpy", "scipy", "skops"} <= set(env["packages"])
    model, inputs = fitted("lightgbm")
    booster = models.register("booster", model, X=inputs, y=y)
    assert booster.environment["packages"]["lightgbm"] == lgb.__version__


def _record_environment(version_id: str, environment: dict[str, Any]) -> None:
    """Set-up: rewrite the environment stored with a version, as if registered elsewhere."""
    rows = table("model_versions", column("id"), column("environment"))
    with default_database().engine.begin() as conn:
        conn.execute(
            update(rows).where(rows.c.id == version_id).values(environment=json.dumps(environment))
        )


def test_a_different_package_version_warns_at_load(backend, register, X):
    v = register()
    env = json.loads(json.dumps(v.environment))
    env["packages"]["scikit-learn"] = "0.20.3"
    env["packages"]["left-pad"] = "1.0.0"
    _record_environment(v.id, env)

    with pytest.warns(models.ModelEnvironmentWarning) as caught:
        loaded = models.load("churn@1")
    (message,) = [str(w.message) for w in caught]
    assert f"scikit-learn is {sklearn.__version__} here, 0.20.3 when registered" in message
    assert "left-pad 1.0.0 is not installed" in message
    assert loaded.predict(X[NUMERIC].head(3)).shape == (3,)

    models.clear_cache()
    models.load("churn@1", check_environment=False)  # no warning (warnings are errors here)


def test_a_patch_release_does_not_warn(backend, register):
    v = register()
    env = json.loads(json.dumps(v.environment))
    major, minor, *_ = sklearn.__version__.split(".")
    env["packages"]["scikit-learn"] = f"{major}.{minor}.999"
    _record_environment(v.id, env)
    models.load("churn@1")


def test_the_environment_warning_points_at_the_caller(home, register):
    v = register()
    env = json.loads(json.dumps(v.environment))
    env["packages"]["scikit-learn"] = "0.20.3"
    _record_environment(v.id, env)
    with pytest.warns(models.ModelEnvironmentWarning) as caught:
        models.load("churn@1")
    assert caught[0].filename == __file__


# -- concurrency --------------------------------------------------------------------------


def _in_threads(count: int, work: Callable[[int], Any]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(1, count + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_concurrent_promotions_leave_exactly_one_production_version(backend, register):
    for _ in range(8):
        register()
    errors = _in_threads(8, lambda n: models.promote(f"churn@{n}", reason=f"thread {n}"))
    assert errors == []

    production = [n for n, s in _stages("churn").items() if s == "production"]
    assert len(production) == 1
    assert sorted(s for s in _stages("churn").values()) == ["archived"] * 7 + ["production"]
    events = models.history("churn")
    promoted = [e for e in events if e.kind == "stage" and e.after == "production"]
    archived = [e for e in events if e.kind == "stage" and e.after == "archived"]
    assert sorted(e.version for e in promoted) == list(range(1, 9))
    assert {e.reason for e in promoted} == {f"thread {n}" for n in range(1, 9)}
    assert len(archived) == 7 and all(e.before == "production" for e in archived)
    # Replaying the events in order ends on the version that is in production.
    assert promoted[0].version == production[0]
    assert promoted[0].id > max(e.id for e in archived)


def test_concurrent_first_registrations_get_distinct_numbers(backend, register):
    errors = _in_threads(6, lambda n: register("race"))
    assert errors == []
    assert sorted(v.version for v in models.versions("race")) == list(range(1, 7))
    assert [m.name for m in models.list_models()] == ["race"]


# -- compare ------------------------------------------------------------------------------


def test_compare_puts_versions_side_by_side(backend, small, X, y):
    with sy.start_run(experiment="registry"):
        sy.log_param("C", 1.0)
        sy.log_metric("auc", 0.8)
        models.register("churn", small, X=X[NUMERIC], y=y)
    models.register("churn", small, X=X[NUMERIC], y=y, metrics={"auc": 0.9, "f1": 0.4})
    models.promote("churn@2")

    frame = models.compare(["churn@1", "churn@production"])
    assert list(frame.columns) == ["churn@1", "churn@2"]
    assert frame.loc["metrics.auc"].tolist() == [0.8, 0.9]
    assert frame.loc["stage"].tolist() == ["none", "production"]
    assert frame.loc["flavor"].tolist() == ["sklearn", "sklearn"]
    assert frame.loc["inputs"].tolist() == [len(NUMERIC), len(NUMERIC)]
    assert frame.loc["params.C", "churn@1"] == "1.0"
    assert pd.isna(frame.loc["metrics.f1", "churn@1"])
    assert frame.loc["metrics.f1", "churn@2"] == 0.4
    with pytest.raises(InvalidInput, match="at least two"):
        models.compare(["churn@1"])
    with pytest.raises(NotFound):
        models.compare(["churn@1", "churn@7"])


def test_compare_lists_the_rows_that_differ_first(backend, small, X):
    with sy.start_run(experiment="registry"):
        sy.log_param("C", 1.0)
        models.register("churn", small, X=X[NUMERIC], metrics={"auc": 0.8})
    models.register("churn", small, X=X[NUMERIC], metrics={"auc": 0.9})
    frame = models.compare(["churn@1", "churn@2"])
    # metrics.auc, run (an id against none) and params.C (a value against none) differ.
    assert set(frame.index[:3]) == {"metrics.auc", "run", "params.C"}

"""Regression tests for the model registry review: one test per finding (the reviewer's
repro scripts, numbered as in its README, are named in each test's comment)."""

from __future__ import annotations

import functools
import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils._testing import assert_run_python_script_without_output
from sqlalchemy import column, func, select, table

from shipyard import models
from shipyard.data import make_loans
from shipyard.errors import InvalidInput, ShipyardError
from shipyard.models._api import _store
from shipyard.store import default_artifacts, default_database

NUMERIC = ["age", "income", "credit_score", "debt_to_income", "late_payments"]
TORCH_MISSING = 'the PyTorch flavor needs torch: pip install ".[dev,torch]"'


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(400, seed=11).drop(columns=["application_id", "applied_at"])


@pytest.fixture(scope="module")
def X(loans: pd.DataFrame) -> pd.DataFrame:
    return loans.drop(columns=["default"])


@pytest.fixture(scope="module")
def y(loans: pd.DataFrame) -> pd.Series:
    return loans["default"]


@pytest.fixture(scope="module")
def small(X: pd.DataFrame, y: pd.Series) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X[NUMERIC], y)


def _in_threads(count: int, work: Callable[[int], Any]) -> list[BaseException]:
    """Run ``work(1..count)`` in threads started together; the exceptions they raised."""
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
        t.join(timeout=120)
    return errors


# -- 1 (script 09): skops trusts named scikit-learn helpers only --------------------------


SCRIPT_RUNNER = (
    f"{assert_run_python_script_without_output.__module__}."
    f"{assert_run_python_script_without_output.__qualname__}"
)
UNTRUSTED: dict[str, tuple[Callable[..., Any], str]] = {
    "sklearn-test-helper": (
        functools.partial(assert_run_python_script_without_output, "open('pwned', 'w')"),
        SCRIPT_RUNNER,
    ),
    "eval": (eval, "builtins.eval"),
    "numpy.load": (np.load, "numpy.load"),
}


@pytest.mark.parametrize("case", sorted(UNTRUSTED))
def test_skops_refuses_untrusted_functions_without_trusted(home, case):
    function, name = UNTRUSTED[case]
    X = pd.DataFrame({"a": np.arange(1.0, 21.0)})
    y = X["a"] * 2
    model = make_pipeline(FunctionTransformer(np.log1p), LinearRegression()).fit(X, y)
    # A stateless extra step in a fitted pipeline (fitting it would call the function).
    model.steps.insert(0, ("evil", FunctionTransformer(function).fit(X)))
    with pytest.raises(InvalidInput, match="trusted=") as caught:
        models.register("trojan", model, X=X, y=y)
    assert name in str(caught.value)
    assert models.list_models() == []


def test_skops_still_trusts_ufuncs_and_sklearn_defaults(home, X, y):
    frame = pd.DataFrame({"a": np.arange(1.0, 21.0)})
    with_ufunc = make_pipeline(FunctionTransformer(np.log1p), LinearRegression())
    with_ufunc.fit(frame, frame["a"] * 2)
    v = models.register("log1p", with_ufunc, X=frame, y=frame["a"] * 2)
    assert v.flavor_meta["format"] == "skops"
    np.testing.assert_allclose(models.load(v.ref).predict(frame), with_ufunc.predict(frame))

    # Default settings hold scikit-learn's check_array in a functools.partial.
    hgb = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    v = models.register("hgb", hgb, X=X, y=y)
    assert v.flavor_meta["format"] == "skops"
    np.testing.assert_allclose(
        models.load(v.ref).predict_proba(X.head(50)), hgb.predict_proba(X.head(50))
    )


# -- 2 (script 26): number categories stay categories ------------------------------------


def _store_frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    store = rng.choice([10, 20, 30], 400)
    frame = pd.DataFrame({"x": rng.normal(size=400), "store": pd.Categorical(store)})
    labels = pd.Series(((store == 20) ^ (frame["x"] > 1)).astype(int), name="y")
    return frame, labels


NUMBER_CATEGORY_MODELS: dict[str, Callable[[], Any]] = {
    "lightgbm": lambda: lgb.LGBMClassifier(
        n_estimators=10, min_child_samples=5, n_jobs=1, verbose=-1
    ),
    "xgboost": lambda: xgb.XGBClassifier(
        n_estimators=10, max_depth=3, n_jobs=1, enable_categorical=True, tree_method="hist"
    ),
    "hist-gbm": lambda: HistGradientBoostingClassifier(
        max_iter=10, categorical_features="from_dtype", random_state=0
    ),
}


@pytest.mark.parametrize("case", sorted(NUMBER_CATEGORY_MODELS))
def test_number_categories_predict_like_the_native_model(home, case):
    frame, labels = _store_frame()
    model = NUMBER_CATEGORY_MODELS[case]().fit(frame, labels)
    v = models.register(case, model, X=frame, y=labels)
    loaded = models.load(v.ref)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    proba, native = loaded.predict_proba(frame), model.predict_proba(frame)
    np.testing.assert_allclose(proba[:, 1], native[:, 1], rtol=0, atol=1e-9)
    # XGBoost computes P(class 0) = 1 - P(class 1) in float32, the registry in float64.
    np.testing.assert_allclose(proba, native, rtol=0, atol=1e-7)
    # One record, as serving sends it.
    record = {"x": float(frame["x"].iloc[0]), "store": int(frame["store"].iloc[0])}
    np.testing.assert_array_equal(loaded.predict(record), model.predict(frame.head(1)))

    with pytest.raises(InvalidInput, match="'store'"):
        loaded.predict({"x": 0.5, "store": 40})
    with pytest.raises(InvalidInput, match="'store'"):
        loaded.predict(pd.DataFrame({"x": [0.5], "store": pd.Categorical([40])}))


# -- 3 (script 13): PyTorch output kind decided at registration ---------------------------


def test_torch_single_logit_probability_does_not_depend_on_the_batch(home):
    torch = pytest.importorskip("torch", reason=TORCH_MISSING)

    net = torch.nn.Linear(1, 1)
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.bias.fill_(0.0)  # outputs a logit, as BCEWithLogitsLoss trains
    frame = pd.DataFrame({"a": np.linspace(-3.0, 3.0, 50)})
    v = models.register("logit", net, X=frame, y=(frame["a"] > 0).astype(int))
    assert v.flavor_meta["output"] == "logits"

    loaded = models.load(v.ref)
    alone = loaded.predict_proba(pd.DataFrame({"a": [0.5]}))[0]
    batched = loaded.predict_proba(pd.DataFrame({"a": [0.5, 3.0]}))[0]
    np.testing.assert_allclose(alone, batched, atol=1e-7)
    np.testing.assert_allclose(alone[1], 1.0 / (1.0 + math.exp(-0.5)), atol=1e-6)
    label_alone = loaded.predict(pd.DataFrame({"a": [0.4]}))[0]
    label_batched = loaded.predict(pd.DataFrame({"a": [0.4, 3.0]}))[0]
    assert label_alone == label_batched == 1


# -- 4/11 (scripts 03, 18): flavors that feed columns need a signature ---------------------


def _unsigned_model(kind: str) -> Any:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    labels = (frame["a"] > 0).astype(int)
    if kind == "onnx":
        from skl2onnx import to_onnx

        array = frame.to_numpy().astype(np.float32)
        return to_onnx(LogisticRegression().fit(array, labels), array[:1])
    torch = pytest.importorskip("torch", reason=TORCH_MISSING)
    net = torch.nn.Linear(2, 2)
    if kind == "torch-exported":
        return torch.export.export(net, (torch.zeros(2, 2),))
    return net


# LightGBM and XGBoost models record their inputs, so since issue 18 they register without X
# with the signature read from them (tests/models/test_signature_inference.py).
@pytest.mark.parametrize("kind", ["onnx", "torch", "torch-exported"])
def test_models_fed_by_column_are_refused_without_x(home, kind):
    model = _unsigned_model(kind)
    with pytest.raises(InvalidInput, match="X="):
        models.register("unsigned", model)
    assert models.list_models() == []


# -- 5 (script 21): concurrent exports serialize -----------------------------------------


def test_concurrent_exports_of_one_version_keep_one_export(backend, small, X, y):
    v = models.register("churn", small, X=X[NUMERIC], y=y)
    stored = models.export(v.ref).exports["onnx"]
    store = _store()

    def work(n: int) -> None:
        models.export(v.ref)
        # The store call export() ends with, repeated to widen the window of the race.
        for _ in range(15):
            store.add_export(
                v.id, "onnx", stored.digest, stored.size, stored.meta, stored.report, f"t{n}"
            )

    errors = _in_threads(4, work)
    raw = [e for e in errors if not isinstance(e, ShipyardError)]
    assert raw == [], [f"{type(e).__module__}.{type(e).__name__}: {e}" for e in raw]

    rows = table("model_exports", column("version_id"), column("format"))
    with default_database().engine.connect() as conn:
        count = conn.scalar(
            select(func.count())
            .select_from(rows)
            .where(rows.c.version_id == v.id, rows.c.format == "onnx")
        )
    assert count == 1
    assert list(models.get(v.ref).exports) == ["onnx"]


# -- 6 (script 04): load(auto) picks from today's exports --------------------------------


def test_auto_load_after_export_in_the_same_process_is_onnx(home, small, X, y):
    v = models.register("churn", small, X=X[NUMERIC], y=y)
    assert models.load(v.ref).format == "native"  # cached before the export exists
    models.export(v.ref)  # loads (and caches) the native model too
    auto = models.load(v.ref, format="auto")
    assert auto.format == "onnx"
    rows = X[NUMERIC].head(50)
    np.testing.assert_allclose(auto.predict_proba(rows), small.predict_proba(rows), atol=1e-4)
    assert models.load(v.ref).format == "native"


# -- 7 (script 01): odd inputs are InvalidInput ------------------------------------------


@pytest.fixture(scope="module")
def encoded() -> tuple[Pipeline, pd.DataFrame, pd.Series]:
    """A pipeline whose encoder refuses unknown text, on int, float and plain text columns."""
    frame = make_loans(300, seed=5)
    inputs = frame[["age", "income", "region"]].astype({"region": str})
    encoder = make_column_transformer(
        (OneHotEncoder(handle_unknown="error"), ["region"]), remainder="passthrough"
    )
    model = make_pipeline(encoder, LogisticRegression(max_iter=1_000))
    return model.fit(inputs, frame["default"]), inputs, frame["default"]


ODD_INPUTS: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str]] = {
    "int-gets-inf": (lambda X: X.head(1).astype({"age": float}).assign(age=np.inf), "'age'"),
    "int-gets-1e30": (lambda X: X.head(1).astype({"age": float}).assign(age=1e30), "'age'"),
    "int-gets-uint64-max": (
        lambda X: X.head(1).assign(age=np.array([2**64 - 1], dtype=np.uint64)),
        "'age'",
    ),
    "duplicate-columns": (
        lambda X: pd.concat([X.head(1), X[["age"]].head(1)], axis=1),
        "age",
    ),
    "no-rows": (lambda X: X.iloc[:0], "no rows"),
    "unknown-text-category": (lambda X: X.head(1).assign(region="mars"), "mars"),
}


@pytest.mark.parametrize("case", sorted(ODD_INPUTS))
def test_odd_inputs_are_invalid_input(home, encoded, case):
    model, inputs, labels = encoded
    models.register("odd", model, X=inputs, y=labels)
    loaded = models.load("odd@1")
    make, match = ODD_INPUTS[case]
    bad = make(inputs)
    with pytest.raises(InvalidInput, match=match):
        loaded.predict(bad)
    with pytest.raises(InvalidInput, match=match):
        loaded.predict_proba(bad)


# -- 8 (scripts 07, 08): list fields refuse strings; metrics are finite numbers ----------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"aliases": "champion"}, "'aliases'"),
        ({"requirements": "x>=1"}, "'requirements'"),
        ({"datasets": "loans@1"}, "'datasets'"),
        ({"metrics": {"auc": "high"}}, "'auc'"),
        ({"metrics": {"auc": float("nan")}}, "'auc'"),
        ({"metrics": {"auc": float("inf")}}, "'auc'"),
    ],
    ids=["aliases", "requirements", "datasets", "metric-text", "metric-nan", "metric-inf"],
)
def test_bad_register_fields_are_refused_and_nothing_is_stored(home, small, X, y, kwargs, match):
    with pytest.raises(InvalidInput, match=match):
        models.register("churn", small, X=X[NUMERIC], y=y, **kwargs)
    assert models.list_models() == []


# -- 9 (script 14): 2-D y ----------------------------------------------------------------


@pytest.mark.parametrize("as_array", [False, True], ids=["frame", "array"])
def test_a_multi_output_target_registers(home, as_array):
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) ** 2})
    targets = pd.DataFrame({"y1": frame["a"] * 2, "y2": frame["b"] + 1})
    model = LinearRegression().fit(frame, targets)
    v = models.register("multi", model, X=frame, y=targets.to_numpy() if as_array else targets)
    assert v.signature is not None and v.signature.task == "regression"
    out = models.load(v.ref).predict(frame.head(3))
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out, model.predict(frame.head(3)))


# -- 10 (script 15): a forced flavor must fit the model -----------------------------------


@pytest.mark.parametrize("flavor", ["onnx", "lightgbm", "xgboost"])
def test_a_forced_flavor_that_cannot_save_the_model_is_refused(home, small, X, y, flavor):
    with pytest.raises(InvalidInput, match="flavor"):
        models.register("forced", small, X=X[NUMERIC], y=y, flavor=flavor)
    assert models.list_models() == []


# -- 12 (script 19): PyTorch multi-output regressor --------------------------------------


def test_torch_multi_output_regressor_keeps_its_columns(home):
    torch = pytest.importorskip("torch", reason=TORCH_MISSING)

    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2)
    frame = pd.DataFrame({"a": np.arange(4.0), "b": np.ones(4)})
    models.register("two", net, X=frame, y=frame["a"] * 1.5)
    out = models.load("two@1").predict(frame)
    assert out.shape == (4, 2)
    with torch.no_grad():
        expected = net(torch.tensor(frame.to_numpy(), dtype=torch.float32)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-6)


# -- 13 (script 22): a long actor name fits the column ------------------------------------


def test_a_long_user_name_is_truncated_to_the_column(backend, small, X, y, monkeypatch):
    user = "CN=ml-deploy-bot,OU=Service Accounts," + "x" * 300
    user = user[:300]
    monkeypatch.setenv("SHIPYARD_USER", user)
    v = models.register("churn", small, X=X[NUMERIC], y=y, aliases=["champion"])
    assert v.created_by == user[:128]
    assert models.promote(v.ref).stage == "production"
    assert {e.actor for e in models.history("churn")} == {user[:128]}


# -- 14 (script 10): PythonModel files are private copies under their names ---------------


class Vocabulary(models.PythonModel):
    """Reads its file at load and, like careless code does, writes to it."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.table: dict[str, int] = {}

    def load(self, artifacts: dict[str, Path]) -> None:
        self.path = Path(artifacts["table"])
        self.table = json.loads(self.path.read_text())

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return np.array([self.table.get(str(k), -1) for k in df["key"]])


def test_python_model_files_are_private_copies_under_their_names(home, tmp_path):
    source = tmp_path / "table.json"
    original = json.dumps({"1": 10, "2": 20})
    source.write_text(original)
    v = models.register(
        "lookup", Vocabulary(), X=pd.DataFrame({"key": [1, 2]}), artifacts={"table": source}
    )
    source.unlink()

    loaded = models.load(v.ref)
    path = loaded.native.path
    assert path is not None and path.name == "table.json"
    store = default_artifacts()
    objects = Path(str(store.root)).resolve()
    assert objects not in path.resolve().parents
    assert loaded.predict(pd.DataFrame({"key": [1, 2, 3]})).tolist() == [10, 20, -1]

    path.write_text(json.dumps({"1": 99}))  # the model scribbles on its file
    digest = v.flavor_meta["artifacts"]["table"]["digest"]
    assert store.get_bytes(digest) == original.encode()  # the stored blob is untouched

    models.clear_cache()  # a fresh load (as in another process) sees the stored file
    again = models.load(v.ref)
    assert again.native.table == {"1": 10, "2": 20}
    assert again.predict(pd.DataFrame({"key": [1, 2]})).tolist() == [10, 20]


# -- 15 (script 12): NaT in a non-nullable datetime column --------------------------------


class Hour(models.PythonModel):
    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return df["t"].dt.hour.to_numpy()


def test_nat_in_a_non_nullable_datetime_column_is_invalid_input(home):
    times = pd.DataFrame({"t": pd.to_datetime(["2024-01-01 05:00", "2024-01-02 07:00"])})
    models.register("hour", Hour(), X=times)
    loaded = models.load("hour@1")
    assert loaded.predict(times).tolist() == [5, 7]
    with pytest.raises(InvalidInput, match="'t'"):
        loaded.predict(pd.DataFrame({"t": pd.to_datetime([None, "2024-01-01 05:00"])}))


# -- 16 (script 23): cached models carry today's record -----------------------------------


def test_a_cached_model_reports_its_current_stage_and_aliases(backend, small, X, y):
    models.register("c", small, X=X[NUMERIC], y=y)
    first = models.load("c@1")
    assert (first.version.stage, first.version.aliases) == ("none", ())
    models.promote("c@1", to="production")
    models.set_alias("c@1", "champion")

    current = models.load("c@production")
    assert current.native is first.native  # still served from the cache
    assert current.version.stage == "production"
    assert current.version.aliases == ("champion",)
    assert models.load("c@1").version.stage == "production"


# -- 17 (script 20): the model's width must be the signature's ----------------------------


def test_x_wider_than_the_model_is_refused_at_registration(home):
    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) % 3, "id": np.arange(10)})
    labels = (frame["a"] > 4).astype(int)
    model = LogisticRegression().fit(frame[["a", "b"]].to_numpy(), labels)
    with pytest.raises(InvalidInput, match=r"fitted on 2 columns, but X has 3"):
        models.register("wide", model, X=frame, y=labels)
    assert models.list_models() == []

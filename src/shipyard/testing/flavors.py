"""The contract every model flavor keeps, checked on the small models it brings.

For each entry of the flavor table and each of its :class:`Example` models, the battery
fits the example on a slice of the packaged loans data, registers it, loads it back and
checks: the detected flavor, the signature (columns, task, classes), the stored sample,
predictions equal to the original's (for a table and for one JSON-like record),
probabilities for a classifier and a clear refusal for a regressor, byte-for-byte
repeatable saves where the flavor claims them, and ONNX export matching the native model
within tolerance, or refused with the flavor's one-line reason.

Run it over the table (as ``tests/models/test_flavor_contract.py`` does)::

    @pytest.mark.parametrize("flavor, example", flavors.cases(), ids=flavors.case_id)
    def test_flavor(home, flavor, example):
        flavors.check_round_trip(flavor, example)

The checks use the default registry (``SHIPYARD_HOME``): give each test an empty one.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard import models
from shipyard.data import make_loans
from shipyard.errors import InvalidInput
from shipyard.models._flavor import Example, Flavor
from shipyard.models._flavors import FLAVORS, detection_order, flavor_for
from shipyard.models._onnx import ExportRefused
from shipyard.store import default_artifacts

__all__ = [
    "NUMERIC",
    "case_id",
    "cases",
    "check_deterministic_save",
    "check_entry",
    "check_onnx",
    "check_round_trip",
    "fitted",
    "training_data",
]

NUMERIC = ["age", "income", "credit_score", "debt_to_income", "late_payments"]  # no nulls
ROWS = 300  # rows compared
ATOL = 1e-4  # ONNX against native, as models.export checks by default


@functools.cache
def training_data() -> tuple[pd.DataFrame, pd.Series]:
    """Inputs (numbers with nulls, category columns) and 0/1 labels: 800 loans."""
    loans = make_loans(800, seed=7).drop(columns=["application_id", "applied_at"])
    return loans.drop(columns=["default"]), loans["default"]


def cases() -> list[tuple[Flavor, Example]]:
    """Every (flavor, example) pair of the table, for ``pytest.mark.parametrize``."""
    return [(flavor, example) for flavor in FLAVORS.values() for example in flavor.examples()]


def case_id(value: Any) -> str:
    """A readable test id: the flavor's name, or the example's."""
    return str(getattr(value, "name", value))


_fits: dict[str, tuple[Any, pd.DataFrame]] = {}


def fitted(example: Example) -> tuple[Any, pd.DataFrame]:
    """The example's model fitted on the training data (once per process), and its inputs."""
    if example.name not in _fits:
        X, y = training_data()
        inputs = X[NUMERIC] if example.numeric else X
        _fits[example.name] = (example.fit(inputs, y), inputs)
    return _fits[example.name]


def check_entry(flavor: Flavor) -> None:
    """The entry is well formed: its name is its key, its fields have their types, it
    recognises its own examples, and detection picks it for them."""
    # an entry checked before it joins the table (a plugin's) passes; a taken name does not
    assert FLAVORS.get(flavor.name, flavor) is flavor, f"{flavor.name}: another flavor has it"
    assert isinstance(flavor.needs_signature, bool) and isinstance(flavor.order, int)
    assert isinstance(flavor.deterministic, bool)
    assert flavor.packages and all(isinstance(p, str) for p in flavor.packages)
    reason = flavor.onnx_unsupported
    assert reason is None or (reason.strip() and "\n" not in reason), "one line, or None"
    assert flavor.name not in FLAVORS or flavor in detection_order()
    for example in flavor.examples():
        model, _ = fitted(example)
        assert flavor.handles(model), f"{flavor.name} does not handle its {example.name}"
        if flavor.name in FLAVORS:
            assert flavor_for(model) is flavor, f"detection picks another for {example.name}"


def check_round_trip(flavor: Flavor, example: Example) -> models.ModelVersion:
    """register -> load -> the same predictions, signature and probabilities."""
    model, inputs = fitted(example)
    _, y = training_data()
    v = models.register(example.name, model, X=inputs, y=y)
    assert (v.ref, v.flavor) == (f"{example.name}@1", flavor.name)
    assert v.signature is not None and v.signature.names == list(inputs.columns)
    assert v.sample_digest is not None

    loaded = models.load(f"{example.name}@1")
    assert loaded.version.id == v.id and loaded.format == "native"
    rows = inputs.head(ROWS)
    np.testing.assert_array_equal(loaded.predict(rows), example.predict(model, rows))
    one = rows.iloc[3].to_dict()  # one JSON-like record
    np.testing.assert_array_equal(loaded.predict(one), example.predict(model, rows.iloc[[3]]))
    if example.task == "classification":
        assert v.signature.task == "classification" and loaded.classes == (0, 1)
        want = example.predict_proba(model, rows)
        assert want is not None, f"the {example.name} classifier gives no probabilities"
        np.testing.assert_allclose(loaded.predict_proba(rows), want, rtol=1e-6, atol=1e-7)
    else:
        assert v.signature.task == "regression" and loaded.classes is None
        with pytest.raises(InvalidInput, match="gives no probabilities"):
            loaded.predict_proba(rows)
    return v


def check_deterministic_save(flavor: Flavor, example: Example, v: models.ModelVersion) -> None:
    """The stored artifact is what the flavor saves; where the flavor claims it, saving the
    same model again gives the same bytes, and the loaded model saves to them too."""
    model, inputs = fitted(example)
    stored = default_artifacts().get_bytes(v.digest)
    assert len(stored) == v.size
    assert v.signature is not None
    columns = v.signature.validate(inputs.head(256))
    again = flavor.save(model, trusted=v.flavor_meta.get("trusted", ()), example=columns)
    assert again.meta.get("format") == v.flavor_meta.get("format")
    if not flavor.deterministic:
        return
    assert again.data == stored, f"two saves of the same {example.name} differ"
    reloaded = flavor.load(stored, v.flavor_meta)
    if flavor.handles(reloaded):  # a booster loads as its Booster, still this flavor
        resaved = flavor.save(reloaded, trusted=v.flavor_meta.get("trusted", ()), example=columns)
        assert resaved.data == stored, f"{example.name} does not round-trip byte for byte"


def check_onnx(flavor: Flavor, example: Example, v: models.ModelVersion) -> None:
    """ONNX export matches the native model within tolerance, or is refused with the
    flavor's one-line reason."""
    if flavor.onnx_unsupported is not None:
        with pytest.raises(ExportRefused) as refused:
            models.export(v.ref)
        assert flavor.onnx_unsupported in str(refused.value)
        return
    exported = models.export(v.ref)
    report = exported.exports["onnx"].report
    assert report["max_diff"] <= ATOL
    model, inputs = fitted(example)
    rows = inputs.head(ROWS)
    onnx = models.load(v.ref, format="onnx")
    if example.task == "classification":
        want_proba = example.predict_proba(model, rows)
        assert want_proba is not None
        np.testing.assert_allclose(onnx.predict_proba(rows), want_proba, atol=ATOL)
        agree = np.mean(onnx.predict(rows) == example.predict(model, rows))
        assert agree >= 0.99, f"labels agree on {agree:.1%} only"
    else:
        want = np.asarray(example.predict(model, rows), dtype=np.float64)
        scale = float(np.max(np.abs(want))) or 1.0
        assert float(np.max(np.abs(onnx.predict(rows) - want))) / scale <= ATOL

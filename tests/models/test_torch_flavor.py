"""The PyTorch flavor: torch.export in, the same predictions out, no pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shipyard import models
from shipyard.data import make_loans
from shipyard.errors import InvalidInput

torch = pytest.importorskip(
    "torch", reason='the PyTorch flavor needs torch: pip install ".[dev,torch]"'
)


def _data() -> tuple[object, object]:
    frame = make_loans(600, seed=3)
    y = frame.pop("default")
    x = frame.select_dtypes("number").drop(columns=["application_id"])
    x = ((x - x.mean()) / x.std()).fillna(0.0)
    return x, y


def _net(inputs: int, outputs: int) -> object:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, 8), torch.nn.ReLU(), torch.nn.Linear(8, outputs)
    )


def test_classifier_round_trip_through_torch_export(home: Path) -> None:
    x, y = _data()
    net = _net(x.shape[1], 2)
    version = models.register("net", net, X=x, y=y)
    assert version.flavor == "torch"
    assert version.flavor_meta["format"] == "torch-export"
    assert "torch" in version.environment["packages"]
    loaded = models.load("net@1")
    proba = loaded.predict_proba(x.iloc[:20])
    with torch.no_grad():
        logits = net(torch.tensor(x.iloc[:20].to_numpy(), dtype=torch.float32))
    expected = torch.softmax(logits, dim=1).numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    assert set(loaded.predict(x.iloc[:20])) <= {0, 1}
    # one record, as serving sends it
    record = {k: float(v) for k, v in x.iloc[0].items()}
    np.testing.assert_allclose(loaded.predict_proba(record)[0], expected[0], atol=1e-6)


def test_regressor_and_single_logit(home: Path) -> None:
    x, y = _data()
    reg = _net(x.shape[1], 1)
    models.register("reg", reg, X=x, y=x["income"].to_numpy())
    out = models.load("reg@1").predict(x.iloc[:5])
    assert out.shape == (5,)
    logit = _net(x.shape[1], 1)
    models.register("logit", logit, X=x, y=y)
    proba = models.load("logit@1").predict_proba(x.iloc[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_text_columns_are_refused_with_their_names(home: Path) -> None:
    frame = make_loans(200, seed=1)
    y = frame.pop("default")
    x = frame[["age", "region"]]
    with pytest.raises(InvalidInput, match="region"):
        models.register("mixed", _net(2, 2), X=x, y=y)
    assert models.list_models() == []

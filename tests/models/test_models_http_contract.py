"""The model store's contract over HTTP: remote mode's ``HttpModelBackend`` against a real
platform server (``create_app()`` served in a thread over a temp SQLite store) passes the
checks the SQL store passes (the registry core's cases for models included), and a record
crosses the wire unchanged."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard import serving
from shipyard.errors import NotFound
from shipyard.models import ModelStore, Signature
from shipyard.models._http import HttpModelBackend
from shipyard.server import create_app
from shipyard.store import RemoteClient, default_database
from shipyard.testing.backends import new_model_version
from shipyard.testing.stores import ModelStoreContract


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A platform server in this process; its stores are the current test's ``home``."""
    with serving.background(create_app()) as url:
        yield url


@pytest.fixture
def client(server: str, home: Path) -> Iterator[RemoteClient]:
    remote = RemoteClient(server)
    yield remote
    remote.close()


@pytest.fixture
def model_store(client: RemoteClient) -> HttpModelBackend:
    return HttpModelBackend(client)


@pytest.fixture
def local() -> ModelStore:
    """The server's own store, read directly."""
    return ModelStore(default_database())


class TestHttpModelStore(ModelStoreContract):
    pass


# -- records cross the wire unchanged -------------------------------------------------------


def _full(**changes: Any) -> Any:
    sig = Signature.from_dict(
        {
            "inputs": [
                {"name": "age", "type": "int"},
                {"name": "city", "type": "category", "categories": ["a", "b"], "nullable": True},
                {"name": "income", "type": "float"},
            ],
            "task": "classification",
            "classes": [0, 1],
            "target": "default",
        }
    )
    values: dict[str, Any] = {
        "signature": sig,
        "flavor_meta": {"format": "skops", "trusted": ["x.y"], "nested": {"at": 1}},
        "environment": {"python": "3.12.1", "packages": {"scikit-learn": "1.5.0"}},
        "sample_digest": "1" * 64,
        "metrics": {"auc": 0.875, "loss": 1.0},
        "source_commit": "abc123",
        "description": "a model",
        "tags": {"team": "risk"},
        "aliases": ("champion",),
        "stage": "staging",
        "reason": "first cut",
    }
    values.update(changes)
    return new_model_version(**values)


def _no_times(version: Any) -> Any:
    exports = {f: dataclasses.replace(e, created_at=0.0) for f, e in version.exports.items()}
    return dataclasses.replace(version, created_at=0.0, exports=exports)


def test_a_full_record_comes_back_as_the_local_store_reads_it(
    model_store: HttpModelBackend, local: ModelStore
) -> None:
    made = model_store.add_version("churn", _full())
    model_store.add_export(made.id, "onnx", "2" * 64, 77, {"opset": 17}, {"max_diff": 1e-6}, "ann")
    remote, here = model_store.get(made.id), local.get(made.id)
    assert _no_times(remote) == _no_times(here)
    assert abs(remote.created_at - here.created_at) < 1e-5
    assert remote.signature is not None and remote.signature.classes == (0, 1)
    assert remote.signature.inputs[1].categories == ("a", "b")
    assert remote.exports["onnx"].report == {"max_diff": 1e-6}
    assert model_store.list_models()[0].aliases == {"champion": 1}
    assert model_store.versions("churn") == [remote]
    (summary,) = model_store.list_models()
    assert dataclasses.replace(summary, created_at=0.0) == dataclasses.replace(
        local.list_models()[0], created_at=0.0
    )


def test_trained_on_and_delete_model(model_store: HttpModelBackend, home: Path) -> None:
    import shipyard as sy
    from shipyard.data import make_loans

    data = sy.datasets.register("loans", make_loans(50, seed=0))
    model_store.add_version("churn", new_model_version(datasets=[data.id]))
    model_store.add_version("churn", new_model_version())
    (found,) = model_store.trained_on(data.id)
    assert (found.ref, found.datasets) == ("churn@1", ("loans@1",))
    assert model_store.trained_on("unknown") == []
    with pytest.raises(NotFound, match="datasets: no dataset version with id nope"):
        model_store.add_version("churn", new_model_version(datasets=["nope"]))
    assert model_store.delete_model("churn") == 2
    assert model_store.list_models() == []

"""The model store's contracts over HTTP: remote mode's ``HttpModelBackend`` against a real
platform server (``create_app()`` served in a thread over a temp SQLite store) passes the
checks the SQL store passes, and the registry core's cases for models give the same answers
through the backend interface on SQL and on HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard import serving
from shipyard._refs import Ref
from shipyard.errors import InvalidInput, NotFound
from shipyard.models import STAGES, ModelBackend, ModelStore, Signature
from shipyard.models._http import HttpModelBackend
from shipyard.server import create_app
from shipyard.store import RemoteClient, default_database
from shipyard.testing.backends import new_model_version, run_threads
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


@pytest.fixture(params=["sql", "http"])
def store(request: pytest.FixtureRequest, home: Path) -> ModelBackend:
    """The same registry on each side of the wire."""
    if request.param == "sql":
        return ModelStore(default_database())
    found: ModelBackend = request.getfixturevalue("model_store")
    return found


class TestHttpModelStore(ModelStoreContract):
    pass


# -- the registry core's cases, for models, through the backend interface ------------------


def test_versions_are_numbered_from_one(store: ModelBackend) -> None:
    numbers = [store.add_version("thing", new_model_version()).version for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert store.add_version("other", new_model_version()).version == 1


def test_concurrent_registrations_get_distinct_consecutive_numbers(store: ModelBackend) -> None:
    store.add_version("thing", new_model_version())
    made = run_threads(8, lambda i: store.add_version("thing", new_model_version()).version)
    assert sorted(made) == list(range(2, 10))


def test_resolve_by_number_latest_and_alias(store: ModelBackend) -> None:
    first = store.add_version("thing", new_model_version())
    second = store.add_version("thing", new_model_version())
    store.set_alias(Ref("thing", version=1), "gold", None, None)
    assert store.resolve_id(Ref("thing", version=1)) == first.id
    assert store.resolve_id(Ref("thing", alias="latest")) == second.id
    assert store.resolve(Ref("thing", alias="gold")).id == first.id
    assert store.get(first.id).aliases == ("gold",)
    with pytest.raises(NotFound):
        store.resolve_id(Ref("thing", version=7))


def test_not_found_messages_say_what_exists(store: ModelBackend) -> None:
    store.add_version("thing", new_model_version())
    store.add_version("thing", new_model_version())
    with pytest.raises(NotFound, match=r"No model named 'ghost'\. Try: shipyard models list"):
        store.resolve(Ref("ghost", version=1))
    with pytest.raises(NotFound, match=r"Model 'thing' has no version 7 \(latest is 2\)"):
        store.resolve(Ref("thing", version=7))
    with pytest.raises(NotFound, match=r"has no alias 'nope' \(aliases: none"):
        store.resolve_id(Ref("thing", alias="nope"))
    with pytest.raises(NotFound, match="No model version with id 'x'"):
        store.get("x")
    with pytest.raises(NotFound, match="No model named 'ghost'"):
        store.versions("ghost")


def test_reserved_and_malformed_aliases_are_refused(store: ModelBackend) -> None:
    made = store.add_version("thing", new_model_version())
    for alias in ["latest", "LATEST", "3", "v3", "V3", *STAGES]:
        with pytest.raises(InvalidInput, match=f"Alias '{alias}' is reserved"):
            store.set_alias(Ref("thing", version=1), alias, None, None)
    for alias in ["", "two words", "a/b", "x" * 65]:
        with pytest.raises(InvalidInput, match="is not valid"):
            store.set_alias(Ref("thing", version=1), alias, None, None)
    assert store.get(made.id).aliases == ()


def test_aliases_that_look_like_paths_stay_aliases(store: ModelBackend) -> None:
    made = store.add_version("thing", new_model_version())
    for alias in [".", "..", "a.b", "-x_"]:
        store.set_alias(Ref("thing", version=1), alias, None, None)
        assert store.resolve(Ref("thing", alias=alias)).id == made.id
    assert store.get(made.id).aliases == ("-x_", ".", "..", "a.b")
    for alias in [".", ".."]:
        store.remove_alias("thing", alias, None, None)
    assert store.get(made.id).aliases == ("-x_", "a.b")


def test_an_alias_moves_and_is_removed(store: ModelBackend) -> None:
    first = store.add_version("thing", new_model_version())
    second = store.add_version("thing", new_model_version())
    store.set_alias(Ref("thing", version=1), "gold", "ann", "first pick")
    moved = store.set_alias(Ref("thing", version=2), "gold", "bob", "better")
    assert moved.aliases == ("gold",)
    assert store.get(first.id).aliases == ()
    assert store.get(second.id).aliases == ("gold",)
    assert store.list_models()[0].aliases == {"gold": 2}
    store.remove_alias("thing", "gold", "bob", "retired")
    with pytest.raises(NotFound, match=r"has no alias 'gold' to remove \(aliases: none"):
        store.remove_alias("thing", "gold", None, None)


def test_tags_travel_with_the_version(store: ModelBackend) -> None:
    made = store.add_version("thing", new_model_version(tags={"team": "risk", "stage": "dev"}))
    assert store.get(made.id).tags == {"team": "risk", "stage": "dev"}


def test_events_record_actor_and_reason(store: ModelBackend) -> None:
    store.add_version("thing", new_model_version(reason="first"))
    store.add_version("thing", new_model_version(created_by=None))
    store.set_alias(Ref("thing", version=1), "gold", "ann", "first pick")
    store.set_alias(Ref("thing", version=1), "gold", "ann", "again: no move, no event")
    store.set_alias(Ref("thing", version=2), "gold", "bob", "better")
    store.remove_alias("thing", "gold", None, "retired")
    events = store.events("thing")
    assert [(e.kind, e.version, e.before, e.after, e.actor, e.reason) for e in events] == [
        ("alias-removed", 2, "gold@2", None, None, "retired"),
        ("alias", 2, "gold@1", "gold@2", "bob", "better"),
        ("alias", 1, None, "gold@1", "ann", "first pick"),
        ("registered", 2, None, "sklearn", None, None),
        ("registered", 1, None, "sklearn", "ann", "first"),
    ]
    assert all(e.at > 0 for e in events) and all(e.model == "thing" for e in events)
    assert [e.id for e in store.events("thing", 2)] == [e.id for e in events[:2]]


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
    assert model_store.resolve(Ref("churn", alias="champion")) == remote
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

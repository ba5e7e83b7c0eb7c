"""Contract suites for the stores: the versioned-registry core, datasets, models, tracking.

Each ``...Contract`` class holds the checks one interface must pass, written once and run
against every backend the way Optuna's storage tests run over every storage. A test module
subclasses a contract (as ``Test...``) and provides the fixtures it asks for:

- :class:`RegistryCoreContract`: ``db`` (a :class:`~shipyard.store.Database`) and ``case``
  (a :class:`~shipyard.testing.backends.RegistryCase`, one per registry:
  :func:`~shipyard.testing.backends.registry_cases`);
- :class:`DatasetStoreContract`, :class:`ModelStoreContract`,
  :class:`TrackingStoreContract`: ``dataset_store``, ``model_store``, ``tracking_store``,
  an empty store of the interface under test (a plugin's own backend, or Shipyard's SQL one
  on each of :data:`~shipyard.testing.backends.BACKENDS` through
  :func:`~shipyard.testing.backends.open_database`).

Example (``tests/store/test_contract.py`` does this for every backend)::

    @pytest.fixture(params=BACKENDS)
    def db(request, tmp_path):
        url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
        with open_database(request.param, tmp_path, url) as database:
            yield database

    @pytest.fixture
    def dataset_store(db):
        return DatasetStore(db)

    class TestDatasetStore(DatasetStoreContract):
        pass
"""

from __future__ import annotations

from typing import Any

import pytest

from shipyard._refs import Ref
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.models import STAGES
from shipyard.store import Database
from shipyard.testing.backends import (
    RegistryCase,
    new_dataset_version,
    new_model_version,
    run_threads,
)

__all__ = [
    "DatasetStoreContract",
    "ModelStoreContract",
    "RegistryCoreContract",
    "TrackingStoreContract",
]

# -- the versioned-registry core ---------------------------------------------------------


class RegistryCoreContract:
    """Checks of :class:`~shipyard.store.VersionedRegistry` over one registry and backend.

    Needs the fixtures ``db`` (a :class:`~shipyard.store.Database`) and ``case`` (a
    :class:`RegistryCase`).
    """

    def test_versions_are_numbered_from_one(self, db: Database, case: RegistryCase) -> None:
        numbers = [case.register(db, "thing", i)[1] for i in range(3)]
        assert numbers == [1, 2, 3]
        assert case.register(db, "other", 9)[1] == 1

    def test_concurrent_registrations_get_distinct_consecutive_numbers(
        self, db: Database, case: RegistryCase
    ) -> None:
        case.register(db, "thing", 0)
        numbers = run_threads(8, lambda i: case.register(db, "thing", i + 1)[1])
        assert sorted(numbers) == list(range(2, 10))

    def test_resolve_by_number_latest_and_alias(self, db: Database, case: RegistryCase) -> None:
        first, _ = case.register(db, "thing", 0)
        second, _ = case.register(db, "thing", 1)
        entity_id, reg = case.entity_id(db, "thing"), case.registry
        with db.write() as conn:
            reg.set_alias(conn, entity_id, "gold", first)
        with db.read() as conn:
            assert reg.resolve(conn, Ref("thing", version=1)) == first
            assert reg.resolve(conn, Ref("thing", alias="latest")) == second
            assert reg.resolve(conn, Ref("thing", alias="gold")) == first
            assert reg.find(conn, Ref("thing", version=7)) is None

    def test_not_found_messages_say_what_exists(self, db: Database, case: RegistryCase) -> None:
        case.register(db, "thing", 0)
        case.register(db, "thing", 1)
        kind, reg = case.registry.spec.kind, case.registry
        with db.read() as conn:
            with pytest.raises(NotFound, match=f"No {kind.lower()} named 'ghost'. Try: shipyard"):
                reg.resolve(conn, Ref("ghost", version=1))
            with pytest.raises(NotFound, match=rf"{kind} 'thing' has no version 7 \(latest is 2\)"):
                reg.resolve(conn, Ref("thing", version=7))
            with pytest.raises(NotFound, match=r"has no alias 'nope' \(aliases: none"):
                reg.resolve(conn, Ref("thing", alias="nope"))
            with pytest.raises(NotFound, match=f"No {kind.lower()} version with id 'x'"):
                reg.row(conn, "x")

    def test_reserved_and_malformed_aliases_are_refused(
        self, db: Database, case: RegistryCase
    ) -> None:
        version_id, _ = case.register(db, "thing", 0)
        entity_id = case.entity_id(db, "thing")
        reserved = ["latest", "LATEST", "3", "v3", "V3", *case.registry.spec.reserved]
        for alias in reserved:
            refused = pytest.raises(InvalidInput, match=f"Alias '{alias}' is reserved")
            with refused, db.write() as conn:
                case.registry.set_alias(conn, entity_id, alias, version_id)
        for alias in ["", "two words", "a/b", "x" * 65]:
            with pytest.raises(InvalidInput, match="is not valid"), db.write() as conn:
                case.registry.set_alias(conn, entity_id, alias, version_id)
        with db.read() as conn:
            assert case.registry.aliases_of(conn, version_id) == ()

    def test_an_alias_moves_and_is_removed(self, db: Database, case: RegistryCase) -> None:
        first, _ = case.register(db, "thing", 0)
        second, _ = case.register(db, "thing", 1)
        entity_id, reg = case.entity_id(db, "thing"), case.registry
        with db.write() as conn:
            reg.set_alias(conn, entity_id, "gold", first, "ann", "first pick")
            reg.set_alias(conn, entity_id, "gold", second, "bob", "better")
        with db.read() as conn:
            assert reg.aliases_of(conn, first) == ()
            assert reg.aliases_of(conn, second) == ("gold",)
            assert reg.alias_target(conn, entity_id, "gold") == 2
        with db.write() as conn:
            assert reg.remove_alias(conn, entity_id, "gold", "bob", "retired") == 2
        missing = pytest.raises(NotFound, match=r"has no alias 'gold' to remove \(aliases: none")
        with missing, db.write() as conn:
            reg.remove_alias(conn, entity_id, "gold")

    def test_tags_replace_values_of_the_same_keys(self, db: Database, case: RegistryCase) -> None:
        version_id, _ = case.register(db, "thing", 0)
        with db.write() as conn:
            case.registry.set_tags(conn, version_id, {"team": "risk", "stage": "dev"})
            case.registry.set_tags(conn, version_id, {"team": "ops"})
        with db.read() as conn:
            assert case.registry.tags_of(conn, version_id) == {"team": "ops", "stage": "dev"}

    def test_events_record_actor_and_reason(self, db: Database, case: RegistryCase) -> None:
        first, _ = case.register(db, "thing", 0)
        second, _ = case.register(db, "thing", 1)
        entity_id, reg = case.entity_id(db, "thing"), case.registry
        with db.write() as conn:
            reg.set_alias(conn, entity_id, "gold", first, "ann", "first pick")
            reg.set_alias(conn, entity_id, "gold", first, "ann", "again: no move, no event")
            reg.set_alias(conn, entity_id, "gold", second, "bob", "better")
            reg.remove_alias(conn, entity_id, "gold", "bob", "retired")
        with db.read() as conn:
            events = reg.events(conn, entity_id)
        if reg.spec.events is None:
            assert events == []
            return
        assert [(e.kind, e.before, e.after, e.actor, e.reason) for e in events] == [
            ("alias-removed", "gold@2", None, "bob", "retired"),
            ("alias", "gold@1", "gold@2", "bob", "better"),
            ("alias", None, "gold@1", "ann", "first pick"),
        ]
        assert all(e.at > 0 for e in events)


# -- the dataset store ---------------------------------------------------------------------


class DatasetStoreContract:
    """Checks of a :class:`~shipyard.data._backend.DatasetBackend`; needs ``dataset_store``."""

    def test_versions_are_numbered_and_resolved(self, dataset_store: Any) -> None:
        first = dataset_store.add_version("loans", new_dataset_version(1, aliases=["gold"]))
        second = dataset_store.add_version("loans", new_dataset_version(2))
        assert (first.version, second.version, second.name) == (1, 2, "loans")
        assert dataset_store.resolve(Ref("loans", version=1)).id == first.id
        assert dataset_store.resolve(Ref("loans", alias="latest")).id == second.id
        assert dataset_store.resolve(Ref("loans", alias="gold")).id == first.id
        assert [v.version for v in dataset_store.versions("loans")] == [2, 1]
        (summary,) = dataset_store.list_datasets()
        assert (summary.name, summary.versions, summary.latest) == ("loans", 2, 2)
        assert dataset_store.by_content(first.dataset_id, f"{1:064x}").id == first.id
        assert dataset_store.unknown_versions([first.id, "nope"]) == ["nope"]

    def test_concurrent_versions_get_distinct_consecutive_numbers(self, dataset_store: Any) -> None:
        dataset_store.add_version("loans", new_dataset_version(0, new_schema={"columns": []}))
        made = run_threads(
            6,
            lambda i: dataset_store.add_version(
                "loans", new_dataset_version(i + 1, expected_schema=1)
            ),
        )
        assert sorted(v.version for v in made) == list(range(2, 8))

    def test_schemas_are_versioned_and_a_stale_one_is_refused(self, dataset_store: Any) -> None:
        from shipyard.data._backend import SchemaChanged

        first = dataset_store.add_version("loans", new_dataset_version(1, new_schema={"v": 1}))
        assert (first.schema_version, dataset_store.schema(first.dataset_id)) == (1, (1, {"v": 1}))
        assert dataset_store.put_schema(first.dataset_id, {"v": 2}) == 2
        assert dataset_store.schema(first.dataset_id, 1) == (1, {"v": 1})
        with pytest.raises(SchemaChanged):
            dataset_store.add_version("loans", new_dataset_version(2, expected_schema=1))

    def test_aliases_move_and_follow_the_rules(self, dataset_store: Any) -> None:
        first = dataset_store.add_version("loans", new_dataset_version(1))
        second = dataset_store.add_version("loans", new_dataset_version(2))
        dataset_store.set_alias(first.dataset_id, "gold", first.id)
        dataset_store.set_alias(first.dataset_id, "gold", second.id)
        assert dataset_store.get(first.id).aliases == ()
        assert dataset_store.get(second.id).aliases == ("gold",)
        for alias in ("latest", "7", "v7"):
            with pytest.raises(InvalidInput, match="is reserved"):
                dataset_store.set_alias(first.dataset_id, alias, first.id)
        dataset_store.remove_alias(first.dataset_id, "gold")
        with pytest.raises(NotFound, match="Dataset 'loans' has no alias 'gold' to remove"):
            dataset_store.remove_alias(first.dataset_id, "gold")

    def test_tags_replace_values_of_the_same_keys(self, dataset_store: Any) -> None:
        made = dataset_store.add_version("loans", new_dataset_version(1, tags={"a": "1", "b": "2"}))
        dataset_store.set_tags(made.id, {"a": "3"})
        assert dataset_store.get(made.id).tags == {"a": "3", "b": "2"}

    def test_lineage_and_transforms(self, dataset_store: Any) -> None:
        parent = dataset_store.add_version("raw", new_dataset_version(1))
        transform = dataset_store.transform("clean", "python", "def f(): ...", "h1")
        assert dataset_store.transform("clean", "python", "def f(): ...", "h1") == transform
        assert dataset_store.transform_code(transform)["name"] == "clean"
        child = dataset_store.add_version(
            "clean", new_dataset_version(2, parents=[parent.id], transform_id=transform)
        )
        assert dataset_store.get(child.id).parents == (parent.id,)
        assert dataset_store.children(parent.id) == [child.id]
        assert dataset_store.cached_output(transform, "k") is None
        dataset_store.cache_output(transform, "k", child.id)
        dataset_store.cache_output(transform, "k", child.id)  # idempotent
        assert dataset_store.cached_output(transform, "k").id == child.id

    def test_not_found_messages(self, dataset_store: Any) -> None:
        dataset_store.add_version("loans", new_dataset_version(1))
        with pytest.raises(NotFound, match=r"No dataset named 'ghost'\. Try: shipyard data list"):
            dataset_store.dataset("ghost")
        with pytest.raises(NotFound, match=r"Dataset 'loans' has no version 7 \(latest is 1\)"):
            dataset_store.resolve(Ref("loans", version=7))
        with pytest.raises(NotFound, match=r"no alias 'nope' \(aliases: none"):
            dataset_store.resolve(Ref("loans", alias="nope"))
        with pytest.raises(NotFound, match="No dataset version with id 'x'"):
            dataset_store.get("x")


# -- the model store -----------------------------------------------------------------------


class ModelStoreContract:
    """Checks of a :class:`~shipyard.models._backend.ModelBackend`; needs ``model_store``.

    Besides the registry's own rules, the registry core's cases
    (:class:`RegistryCoreContract`) for models, through the backend interface: so a backend
    that reaches the core some other way (remote mode's HTTP backend) answers the same."""

    def test_numbers_are_consecutive_and_never_reused(self, model_store: Any) -> None:
        model_store.add_version("churn", new_model_version())
        made = run_threads(6, lambda i: model_store.add_version("churn", new_model_version()))
        assert sorted(v.version for v in made) == list(range(2, 8))
        model_store.delete_version(Ref("churn", version=7), "ann", "bad", force=False)
        assert model_store.add_version("churn", new_model_version()).version == 8
        assert [v.version for v in model_store.versions("churn")][:2] == [8, 6]

    def test_first_registrations_racing_on_a_new_name_all_land(self, model_store: Any) -> None:
        made = run_threads(4, lambda i: model_store.add_version("fresh", new_model_version()))
        assert sorted(v.version for v in made) == [1, 2, 3, 4]
        assert len({v.model_id for v in made}) == 1

    def test_moves_are_events_with_actor_and_reason(self, model_store: Any) -> None:
        model_store.add_version("churn", new_model_version(reason="first"))
        model_store.set_alias(Ref("churn", version=1), "gold", "bob", "best so far")
        model_store.remove_alias("churn", "gold", "bob", "retired")
        events = [
            (e.kind, e.before, e.after, e.actor, e.reason) for e in model_store.events("churn")
        ]
        assert events == [
            ("alias-removed", "gold@1", None, "bob", "retired"),
            ("alias", None, "gold@1", "bob", "best so far"),
            ("registered", None, "sklearn", "ann", "first"),
        ]

    def test_alias_rules(self, model_store: Any) -> None:
        model_store.add_version("churn", new_model_version())
        for alias in ("latest", "production", "Staging", "none", "3", "v3"):
            with pytest.raises(InvalidInput, match=f"Alias '{alias}' is reserved"):
                model_store.set_alias(Ref("churn", version=1), alias, None, None)
        with pytest.raises(InvalidInput, match="is not valid"):
            model_store.set_alias(Ref("churn", version=1), "two words", None, None)
        with pytest.raises(NotFound, match=r"no alias 'gold' to remove \(aliases: none\)"):
            model_store.remove_alias("churn", "gold", None, None)

    def test_stages_promote_archive_and_roll_back(self, model_store: Any) -> None:
        for _ in range(2):
            model_store.add_version("churn", new_model_version())
        model_store.set_stage(Ref("churn", version=1), "production", "ann", None)
        model_store.set_stage(Ref("churn", version=2), "production", "ann", None)
        assert model_store.get(model_store.resolve_id(Ref("churn", version=1))).stage == "archived"
        assert model_store.resolve(Ref("churn", alias="production")).version == 2
        assert model_store.rollback("churn", "ann", None) == (2, 1)
        assert model_store.resolve(Ref("churn", alias="production")).version == 1
        with pytest.raises(Conflict, match="no earlier production version"):
            model_store.rollback("churn", "ann", None)

    def test_not_found_messages(self, model_store: Any) -> None:
        model_store.add_version("churn", new_model_version())
        with pytest.raises(NotFound, match=r"No model named 'ghost'\. Try: shipyard models list"):
            model_store.resolve(Ref("ghost", version=1))
        with pytest.raises(NotFound, match=r"Model 'churn' has no version 9 \(latest is 1\)"):
            model_store.resolve(Ref("churn", version=9))
        with pytest.raises(NotFound, match="no version in stage 'staging'"):
            model_store.resolve(Ref("churn", alias="staging"))
        with pytest.raises(NotFound, match=r"no alias 'gold' \(aliases: none"):
            model_store.resolve(Ref("churn", alias="gold"))

    def test_versions_are_numbered_from_one(self, model_store: Any) -> None:
        numbers = [model_store.add_version("thing", new_model_version()).version for _ in range(3)]
        assert numbers == [1, 2, 3]
        assert model_store.add_version("other", new_model_version()).version == 1

    def test_resolve_by_number_latest_and_alias(self, model_store: Any) -> None:
        first = model_store.add_version("thing", new_model_version())
        second = model_store.add_version("thing", new_model_version())
        model_store.set_alias(Ref("thing", version=1), "gold", None, None)
        assert model_store.resolve_id(Ref("thing", version=1)) == first.id
        assert model_store.resolve_id(Ref("thing", alias="latest")) == second.id
        assert model_store.resolve(Ref("thing", alias="gold")).id == first.id
        assert model_store.get(first.id).aliases == ("gold",)
        with pytest.raises(NotFound):
            model_store.resolve_id(Ref("thing", version=7))

    def test_not_found_messages_say_what_exists(self, model_store: Any) -> None:
        model_store.add_version("thing", new_model_version())
        model_store.add_version("thing", new_model_version())
        with pytest.raises(NotFound, match=r"No model named 'ghost'\. Try: shipyard models list"):
            model_store.resolve(Ref("ghost", version=1))
        with pytest.raises(NotFound, match=r"Model 'thing' has no version 7 \(latest is 2\)"):
            model_store.resolve(Ref("thing", version=7))
        with pytest.raises(NotFound, match=r"has no alias 'nope' \(aliases: none"):
            model_store.resolve_id(Ref("thing", alias="nope"))
        with pytest.raises(NotFound, match="No model version with id 'x'"):
            model_store.get("x")
        with pytest.raises(NotFound, match="No model named 'ghost'"):
            model_store.versions("ghost")

    def test_reserved_and_malformed_aliases_are_refused(self, model_store: Any) -> None:
        made = model_store.add_version("thing", new_model_version())
        for alias in ["latest", "LATEST", "3", "v3", "V3", *STAGES]:
            with pytest.raises(InvalidInput, match=f"Alias '{alias}' is reserved"):
                model_store.set_alias(Ref("thing", version=1), alias, None, None)
        for alias in ["", "two words", "a/b", "x" * 65]:
            with pytest.raises(InvalidInput, match="is not valid"):
                model_store.set_alias(Ref("thing", version=1), alias, None, None)
        assert model_store.get(made.id).aliases == ()

    def test_aliases_that_look_like_paths_stay_aliases(self, model_store: Any) -> None:
        made = model_store.add_version("thing", new_model_version())
        for alias in [".", "..", "a.b", "-x_"]:
            model_store.set_alias(Ref("thing", version=1), alias, None, None)
            assert model_store.resolve(Ref("thing", alias=alias)).id == made.id
        assert model_store.get(made.id).aliases == ("-x_", ".", "..", "a.b")
        for alias in [".", ".."]:
            model_store.remove_alias("thing", alias, None, None)
        assert model_store.get(made.id).aliases == ("-x_", "a.b")

    def test_an_alias_moves_and_is_removed(self, model_store: Any) -> None:
        first = model_store.add_version("thing", new_model_version())
        second = model_store.add_version("thing", new_model_version())
        model_store.set_alias(Ref("thing", version=1), "gold", "ann", "first pick")
        moved = model_store.set_alias(Ref("thing", version=2), "gold", "bob", "better")
        assert moved.aliases == ("gold",)
        assert model_store.get(first.id).aliases == ()
        assert model_store.get(second.id).aliases == ("gold",)
        assert model_store.list_models()[0].aliases == {"gold": 2}
        model_store.remove_alias("thing", "gold", "bob", "retired")
        with pytest.raises(NotFound, match=r"has no alias 'gold' to remove \(aliases: none"):
            model_store.remove_alias("thing", "gold", None, None)

    def test_tags_travel_with_the_version(self, model_store: Any) -> None:
        made = model_store.add_version(
            "thing", new_model_version(tags={"team": "risk", "stage": "dev"})
        )
        assert model_store.get(made.id).tags == {"team": "risk", "stage": "dev"}

    def test_events_record_actor_and_reason(self, model_store: Any) -> None:
        model_store.add_version("thing", new_model_version(reason="first"))
        model_store.add_version("thing", new_model_version(created_by=None))
        model_store.set_alias(Ref("thing", version=1), "gold", "ann", "first pick")
        model_store.set_alias(Ref("thing", version=1), "gold", "ann", "again: no move, no event")
        model_store.set_alias(Ref("thing", version=2), "gold", "bob", "better")
        model_store.remove_alias("thing", "gold", None, "retired")
        events = model_store.events("thing")
        assert [(e.kind, e.version, e.before, e.after, e.actor, e.reason) for e in events] == [
            ("alias-removed", 2, "gold@2", None, None, "retired"),
            ("alias", 2, "gold@1", "gold@2", "bob", "better"),
            ("alias", 1, None, "gold@1", "ann", "first pick"),
            ("registered", 2, None, "sklearn", None, None),
            ("registered", 1, None, "sklearn", "ann", "first"),
        ]
        assert all(e.at > 0 for e in events) and all(e.model == "thing" for e in events)
        assert [e.id for e in model_store.events("thing", 2)] == [e.id for e in events[:2]]


# -- the tracking store --------------------------------------------------------------------


class TrackingStoreContract:
    """Checks of a :class:`~shipyard.tracking.TrackingBackend`; needs ``tracking_store``."""

    def _run(self, store: Any, name: str = "r", experiment: str = "exp") -> Any:
        from shipyard.tracking._process import ProcessInfo

        exp = store.experiment(experiment)
        return store.create_run(
            exp.id,
            name,
            parent_id=None,
            process=ProcessInfo.current(),
            source={},
            environment={},
            tags={"team": "risk"},
        )

    def test_experiments_are_created_once(self, tracking_store: Any) -> None:
        ids = run_threads(4, lambda i: tracking_store.experiment("exp").id)
        assert len(set(ids)) == 1
        assert tracking_store.get_experiment("exp").id == ids[0]
        with pytest.raises(NotFound, match="No experiment named 'ghost'"):
            tracking_store.get_experiment("ghost")

    def test_params_are_write_once_and_tags_replace(self, tracking_store: Any) -> None:
        run = self._run(tracking_store)
        tracking_store.log_params(run.id, {"lr": "0.1"})
        tracking_store.log_params(run.id, {"lr": "0.1", "depth": "3"})
        with pytest.raises(Conflict, match="write-once"):
            tracking_store.log_params(run.id, {"lr": "0.2"})
        tracking_store.set_tags(run.id, {"team": "ops", "note": "x"})
        data = tracking_store.get_run(run.id)
        assert data.params == {"lr": "0.1", "depth": "3"}
        assert data.tags == {"team": "ops", "note": "x"}

    def test_metric_batches_keep_series_and_latest(self, tracking_store: Any) -> None:
        run = self._run(tracking_store)
        tracking_store.write_metrics(run.id, [("auc", 0.5, 1, 1.0), ("auc", 0.7, 2, 2.0)])
        tracking_store.finish_run(run.id, "finished", [("auc", 0.6, 0, 3.0)])
        assert [p.value for p in tracking_store.read_metrics(run.id, "auc")] == [0.6, 0.5, 0.7]
        data = tracking_store.get_run(run.id[:8])
        assert (data.metrics["auc"].value, data.metrics["auc"].count) == (0.7, 3)
        assert data.info.status == "finished" and data.info.end_time is not None
        with pytest.raises(InvalidInput, match="not a final status"):
            tracking_store.end_run(run.id, "running")

    def test_a_batch_sent_again_under_its_id_is_written_once(self, tracking_store: Any) -> None:
        run, other = self._run(tracking_store), self._run(tracking_store, "other")
        batch = [("loss", 0.5, 0, 1.0), ("loss", 0.4, 1, 2.0)]
        for _ in range(2):  # the first answer was lost: the client sends the batch again
            tracking_store.write_metrics(run.id, batch, batch_id="b1")
        tracking_store.write_metrics(run.id, batch, batch_id="b2")  # another batch: written
        tracking_store.write_metrics(other.id, batch, batch_id="b1")  # ids are per run
        for _ in range(2):  # a finish sent again once the run has finished: done, once
            tracking_store.finish_run(run.id, "failed", [("loss", 0.3, 2, 3.0)], batch_id="b3")
        assert [p.step for p in tracking_store.read_metrics(run.id, "loss")] == [0, 0, 1, 1, 2]
        data = tracking_store.get_run(run.id)
        assert (data.metrics["loss"].count, data.info.status) == (5, "failed")
        assert len(tracking_store.read_metrics(other.id, "loss")) == 2

    def test_delete_hides_then_purges(self, tracking_store: Any) -> None:
        run = self._run(tracking_store)
        assert tracking_store.delete_run(run.id) == [run.id]
        assert tracking_store.get_run(run.id).info.deleted
        tracking_store.delete_run(run.id, purge=True)
        with pytest.raises(NotFound, match="No run with id"):
            tracking_store.get_run(run.id)

"""sy.search_runs, sy.compare_runs and sy.delete_run on a small set of known runs."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pandas as pd
import pytest
from sqlalchemy import text

import shipyard as sy
from shipyard.errors import InvalidFilter, InvalidInput, NotFound
from shipyard.store import default_artifacts, default_database

INFO = ["run_id", "experiment", "name", "status", "start_time", "end_time", "duration", "parent_id"]
ALL = {"alpha", "beta", "kid", "gamma", "delta", "epsilon", "zeta"}


def _log(run, params=None, metrics=None, tags=None):
    run.log_params(params or {})
    for key, value in (metrics or {}).items():
        for v in value if isinstance(value, list) else [value]:
            run.log_metric(key, v)
    run.set_tags(tags or {})


@pytest.fixture
def runs(backend) -> dict[str, str]:
    """Seven runs in experiment "search" (one nested) and one in "other"; name -> id.

    ``"t_mid"`` is a time between the start of gamma and of delta.
    """
    ids: dict[str, str] = {}

    def make(name, status="finished", experiment="search", **logged):
        try:
            with sy.start_run(experiment=experiment, name=name) as run:
                ids[name] = run.id
                _log(run, **logged)
                if status == "failed":
                    raise RuntimeError(status)
                if status == "killed":
                    raise KeyboardInterrupt
        except (RuntimeError, KeyboardInterrupt):
            pass
        time.sleep(0.002)  # distinct start times

    make("alpha", params={"model": "lgbm", "lr": 0.1, "epochs": 9},
         metrics={"auc": 0.95, "val loss": 0.2}, tags={"team": "a"})  # fmt: skip
    with sy.start_run(experiment="search", name="beta") as beta:
        ids["beta"] = beta.id
        _log(beta, params={"model": "lgbm", "lr": 0.01, "epochs": 10},
             metrics={"auc": 0.85}, tags={"team": "b"})  # fmt: skip
        time.sleep(0.002)
        make("kid", params={"model": "lgbm"}, metrics={"auc": 0.6})
    make("gamma", "failed", params={"model": "xgb", "lr": 0.05, "epochs": 100},
         metrics={"auc": 0.91}, tags={"team": "a"})  # fmt: skip
    ids["t_mid"] = str(time.time())
    time.sleep(0.002)
    make("delta", "killed", params={"model": "rf"}, metrics={"loss": 0.3})
    make("epsilon", params={"model": "xgb", "lr": 0.2, "epochs": 50},
         metrics={"auc": 0.7}, tags={"note": "it's fine"})  # fmt: skip
    make("zeta", params={"model": "lgbm", "lr": 0.1}, metrics={"auc": [0.99, 0.5]},
         tags={"team": "b"})  # fmt: skip
    make("omega", experiment="other", params={"model": "lgbm"}, metrics={"auc": 0.99})
    return ids


def names(frame: pd.DataFrame) -> list[str]:
    return list(frame["name"])


def found(filter: str, experiment: str | list[str] | None = "search") -> set[str]:
    return set(names(sy.search_runs(experiment, filter=filter)))


# -- filters ---------------------------------------------------------------------------


def test_no_filter_finds_every_run_newest_first(runs):
    frame = sy.search_runs("search")
    assert names(frame) == ["zeta", "epsilon", "delta", "gamma", "kid", "beta", "alpha"]
    assert list(frame.columns[: len(INFO)]) == INFO
    assert set(names(sy.search_runs())) == ALL | {"omega"}
    assert names(sy.search_runs(["other"])) == ["omega"]
    assert sy.search_runs("search", filter="   ").shape[0] == 7


def test_metric_filters_use_the_latest_value(runs):
    cases = {
        "metrics.auc > 0.9": {"alpha", "gamma"},  # zeta's 0.99 is not its latest
        "metrics.auc >= 0.85": {"alpha", "beta", "gamma"},
        "metrics.auc < 0.7": {"zeta", "kid"},
        "metrics.auc <= 0.7": {"zeta", "kid", "epsilon"},
        "metrics.auc = 0.85": {"beta"},
        "metrics.auc == 0.85": {"beta"},
        "metrics.auc != 0.85": {"alpha", "gamma", "epsilon", "zeta", "kid"},
        "metrics.auc <> 0.85": {"alpha", "gamma", "epsilon", "zeta", "kid"},
        "metrics.auc in (0.95, 0.7)": {"alpha", "epsilon"},
        "metrics.auc not in (0.95, 0.7)": ALL - {"alpha", "epsilon", "delta"},
        "not metrics.auc in (0.95, 0.7)": ALL - {"alpha", "epsilon"},  # delta has no auc
        "not metrics.auc = 0.85": ALL - {"beta"},
        "metrics.auc > 9e-1": {"alpha", "gamma"},
        "m.auc > .9": {"alpha", "gamma"},
        "metrics.`val loss` < 0.5": {"alpha"},
        "metrics.loss > -1": {"delta"},
        "metrics.auc is null": {"delta"},
        "metrics.auc is not null": ALL - {"delta"},
    }
    for filter, expected in cases.items():
        assert found(filter) == expected, filter


def test_param_filters(runs):
    cases = {
        "params.model = 'lgbm'": {"alpha", "beta", "kid", "zeta"},
        'params.model = "xgb"': {"gamma", "epsilon"},
        "params.model != 'lgbm'": {"gamma", "delta", "epsilon"},
        "params.epochs > 9": {"beta", "gamma", "epsilon"},  # as numbers, not as text
        "params.epochs <= 10": {"alpha", "beta"},
        "params.epochs = 10": {"beta"},
        "params.epochs = '10'": {"beta"},
        "params.lr >= 0.1": {"alpha", "epsilon", "zeta"},
        "params.model in ('rf', 'xgb')": {"gamma", "delta", "epsilon"},
        "params.model not in ('lgbm')": {"gamma", "delta", "epsilon"},
        "params.model like 'x%'": {"gamma", "epsilon"},
        "params.model ilike 'LG%'": {"alpha", "beta", "kid", "zeta"},
        "params.model not like '%b%'": {"delta"},
        "params.lr not like '0.0%'": {"alpha", "epsilon", "zeta"},  # not delta, kid: no lr
        "params.lr not in ('0.1')": {"beta", "gamma", "epsilon"},
        "params.lr is null": {"delta", "kid"},
        "params.lr is not null": {"alpha", "beta", "gamma", "epsilon", "zeta"},
        "p.model = 'rf'": {"delta"},
    }
    for filter, expected in cases.items():
        assert found(filter) == expected, filter


def test_tag_filters(runs):
    cases = {
        "tags.team = 'a'": {"alpha", "gamma"},
        "tags.note = 'it''s fine'": {"epsilon"},
        'tags.note = "it\'s fine"': {"epsilon"},
        "tags.note like '%''s%'": {"epsilon"},
        "tags.team is null": {"delta", "epsilon", "kid"},
        "tags.team in ('b')": {"beta", "zeta"},
    }
    for filter, expected in cases.items():
        assert found(filter) == expected, filter


def test_attribute_filters(runs):
    t_mid = float(runs["t_mid"])
    iso = datetime.fromtimestamp(t_mid, tz=timezone.utc).isoformat()
    cases = {
        "status = 'failed'": {"gamma"},
        "attributes.status != 'finished'": {"gamma", "delta"},
        "status in ('failed', 'killed')": {"gamma", "delta"},
        "name = 'alpha'": {"alpha"},
        "name like '%ta'": {"beta", "delta", "zeta"},
        f"run_id = '{runs['alpha']}'": {"alpha"},
        f"parent_id = '{runs['beta']}'": {"kid"},
        "parent_id is null": ALL - {"kid"},
        f"start_time > {t_mid}": {"delta", "epsilon", "zeta"},
        f"start_time < '{iso}'": {"alpha", "beta", "kid", "gamma"},
        "start_time >= '2000-01-01'": ALL,
        "start_time < '2000-01-01T00:00'": set(),
        "end_time is not null": ALL,
    }
    for filter, expected in cases.items():
        assert found(filter) == expected, filter

    with sy.start_run(experiment="search", name="open") as open_run:
        assert found("status = 'running'") == {"open"}
        assert found("end_time is null") == {"open"}
    assert sy.get_run(open_run.id).info.status == "finished"


def test_and_or_not_and_parentheses(runs):
    cases = {
        "params.model = 'lgbm' and metrics.auc > 0.8": {"alpha", "beta"},
        "params.model = 'xgb' or tags.team = 'b'": {"gamma", "epsilon", "beta", "zeta"},
        "not params.model = 'lgbm'": {"gamma", "delta", "epsilon"},
        "(params.model = 'lgbm' or params.model = 'xgb') and metrics.auc < 0.9": {
            "beta",
            "epsilon",
            "zeta",
            "kid",
        },
        # "and" binds tighter than "or"
        "params.model = 'lgbm' or params.model = 'xgb' and metrics.auc < 0.9": {
            "alpha",
            "beta",
            "kid",
            "zeta",
            "epsilon",
        },
        "not (tags.team = 'a' or tags.team = 'b')": {"delta", "epsilon", "kid"},
        "PARAMS.model = 'lgbm' AND NOT metrics.auc > 0.8": {"kid", "zeta"},
        "metrics.auc > 0.9 and metrics.auc < 0.93": {"gamma"},
        "((status = 'finished'))": {"alpha", "beta", "kid", "epsilon", "zeta"},
        "not not status = 'failed'": {"gamma"},
    }
    for filter, expected in cases.items():
        assert found(filter) == expected, filter


def test_filters_across_experiments(runs):
    assert found("metrics.auc > 0.96", ["search", "other"]) == {"omega"}
    assert found("params.model = 'rf' or metrics.auc > 0.96", None) == {"omega", "delta"}
    assert sy.search_runs("other", filter="metrics.auc < 0").empty
    with pytest.raises(NotFound, match="'nope'"):
        sy.search_runs("nope")


def test_a_bad_filter_points_at_the_offending_token(runs):
    bad = "metrics.auc > 0.9 and params.model === 'x'"
    with pytest.raises(InvalidFilter) as info:
        sy.search_runs("search", filter=bad)
    assert info.value.position == bad.index("= 'x'")
    assert info.value.text == bad
    assert f"\n  {bad}\n  {' ' * info.value.position}^" in str(info.value)


# -- ordering and pages ----------------------------------------------------------------


def test_order_by(runs):
    cases = {
        "metrics.auc desc": ["alpha", "gamma", "beta", "epsilon", "kid", "zeta", "delta"],
        "metrics.auc": ["zeta", "kid", "epsilon", "beta", "gamma", "alpha", "delta"],
        "metrics.auc ASC": ["zeta", "kid", "epsilon", "beta", "gamma", "alpha", "delta"],
        "name": ["alpha", "beta", "delta", "epsilon", "gamma", "kid", "zeta"],
        "attributes.name desc": ["zeta", "kid", "gamma", "epsilon", "delta", "beta", "alpha"],
        "start_time": ["alpha", "beta", "kid", "gamma", "delta", "epsilon", "zeta"],
        "start_time desc": ["zeta", "epsilon", "delta", "gamma", "kid", "beta", "alpha"],
        "tags.team": ["gamma", "alpha", "zeta", "beta", "epsilon", "delta", "kid"],
    }
    for order, expected in cases.items():
        assert names(sy.search_runs("search", order_by=order)) == expected, order
    assert names(sy.search_runs("search", order_by=["params.model", "metrics.auc desc"])) == [
        "alpha",
        "beta",
        "kid",
        "zeta",
        "delta",
        "gamma",
        "epsilon",
    ]
    for bad in ("metrics.auc sideways", "metrics.auc desc asc", "", "bogus.x", "nope"):
        with pytest.raises(InvalidFilter):
            sy.search_runs("search", order_by=bad)


@pytest.mark.parametrize(
    ("filter", "order_by"),
    [
        (None, None),
        (None, "metrics.auc desc"),
        ("params.model != 'rf'", ["params.model", "name desc"]),
        ("metrics.auc > 0", "metrics.auc"),
    ],
)
def test_pages_cover_every_run_exactly_once(runs, filter, order_by):
    everything = sy.search_runs(None, filter=filter, order_by=order_by)
    assert everything.attrs["next_page_token"] is None
    seen, sizes, token = [], [], None
    while True:
        page = sy.search_runs(
            None, filter=filter, order_by=order_by, max_results=2, page_token=token
        )
        seen.extend(page["run_id"])
        sizes.append(len(page))
        token = page.attrs["next_page_token"]
        if token is None:
            break
    assert seen == list(everything["run_id"])  # same order, no repeats, none missing
    assert len(set(seen)) == len(seen) == len(everything)
    assert sizes[:-1] == [2] * (len(sizes) - 1) and 1 <= sizes[-1] <= 2


def test_a_page_token_only_fits_its_own_search(runs):
    first = sy.search_runs("search", filter="metrics.auc > 0", max_results=2)
    token = first.attrs["next_page_token"]
    assert token
    second = sy.search_runs("search", filter="metrics.auc > 0", max_results=2, page_token=token)
    assert not set(second["run_id"]) & set(first["run_id"])
    for other in (
        {"experiment": "search", "filter": "metrics.auc > 0.5"},
        {"experiment": "search", "filter": "metrics.auc > 0", "order_by": "name"},
        {"experiment": ["search", "other"], "filter": "metrics.auc > 0"},
        {"experiment": "search", "filter": "metrics.auc > 0", "include_deleted": True},
    ):
        with pytest.raises(InvalidInput, match="different search"):
            sy.search_runs(**other, max_results=2, page_token=token)
    for garbage in ("abc", "", "!!!", token[:-3]):
        with pytest.raises(InvalidInput, match="page_token"):
            sy.search_runs("search", filter="metrics.auc > 0", page_token=garbage)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_results_must_be_a_positive_integer(runs, bad):
    with pytest.raises(InvalidInput, match="max_results"):
        sy.search_runs("search", max_results=bad)


# -- columns ---------------------------------------------------------------------------


def test_frame_holds_every_value_by_default(runs):
    frame = sy.search_runs("search", order_by="name").set_index("name")
    assert {"metrics.auc", "metrics.val loss", "params.lr", "tags.note"} <= set(frame.columns)
    assert frame.loc["alpha", "metrics.auc"] == 0.95
    assert frame.loc["zeta", "metrics.auc"] == 0.5
    assert frame.loc["alpha", "params.epochs"] == "9"
    assert frame.loc["epsilon", "tags.note"] == "it's fine"
    assert pd.isna(frame.loc["delta", "metrics.auc"])
    assert frame.loc["kid", "parent_id"] == runs["beta"]
    assert frame.loc["gamma", "status"] == "failed"
    assert frame.loc["alpha", "experiment"] == "search"
    assert str(frame["start_time"].dtype).startswith("datetime64")
    assert (frame["duration"] >= 0).all()


def test_columns_projection(runs):
    frame = sy.search_runs("search", columns=["params.model", "metrics.auc"], order_by="name")
    assert list(frame.columns) == [*INFO, "params.model", "metrics.auc"]
    assert list(frame["params.model"]) == ["lgbm", "lgbm", "rf", "xgb", "xgb", "lgbm", "lgbm"]
    assert list(sy.search_runs("search", columns=[]).columns) == INFO

    missing = sy.search_runs("search", columns=["metrics.never_logged"])
    assert list(missing.columns) == [*INFO, "metrics.never_logged"]
    assert missing["metrics.never_logged"].isna().all()

    for bad in (["auc"], ["metrics."], ["attributes.status"]):
        with pytest.raises(InvalidInput, match=r"metrics\.<key>"):
            sy.search_runs("search", columns=bad)


def test_an_empty_result_has_the_columns_asked_for(runs):
    frame = sy.search_runs("search", filter="metrics.auc > 2", columns=["metrics.auc"])
    assert frame.empty
    assert list(frame.columns) == [*INFO, "metrics.auc"]
    assert frame.attrs["next_page_token"] is None


# -- compare ---------------------------------------------------------------------------


def test_compare_runs_flags_rows_that_differ(runs):
    frame = sy.compare_runs([runs["alpha"], runs["zeta"]])
    assert list(frame.columns) == [
        f"alpha ({runs['alpha'][:8]})",
        f"zeta ({runs['zeta'][:8]})",
        "differs",
    ]
    differs = frame["differs"].to_dict()
    expected = {
        "experiment": False,
        "status": False,
        "params.model": False,
        "params.lr": False,
        "params.epochs": True,  # only alpha has it
        "metrics.auc": True,
        "metrics.val loss": True,  # only alpha has it
        "tags.team": True,
    }
    assert {k: bool(differs[k]) for k in expected} == expected
    assert frame.loc["metrics.auc"].iloc[:2].tolist() == [0.95, 0.5]

    same = sy.compare_runs([runs["alpha"], runs["alpha"]])
    assert not same.drop(index="duration")["differs"].any()

    with pytest.raises(InvalidInput, match="at least two"):
        sy.compare_runs([runs["alpha"]])
    with pytest.raises(NotFound):
        sy.compare_runs([runs["alpha"], "f" * 32])


# -- delete ----------------------------------------------------------------------------


def test_soft_delete_hides_a_run_and_its_children(runs):
    deleted = sy.delete_run(runs["beta"])
    assert set(deleted) == {runs["beta"], runs["kid"]}
    assert found("params.model = 'lgbm'") == {"alpha", "zeta"}
    assert set(names(sy.search_runs("search"))) == ALL - {"beta", "kid"}
    with_deleted = sy.search_runs("search", include_deleted=True)
    assert set(names(with_deleted)) == ALL
    assert sy.get_run(runs["beta"]).info.deleted
    assert sy.get_run(runs["kid"]).info.deleted
    assert sy.get_run(runs["beta"]).params["model"] == "lgbm"  # still readable
    assert not sy.get_run(runs["alpha"]).info.deleted
    counts = {e.name: e.run_count for e in sy.list_experiments()}
    assert counts == {"search": 5, "other": 1}


def test_purge_removes_the_rows_of_a_run_and_its_children(runs):
    with sy.start_run(experiment="purge", name="parent") as parent:
        sy.log_artifact({"a": 1}, name="conf")
        with sy.start_run(name="child") as child:
            child.log_metric("x", 1.0)
            with sy.start_run(name="grandchild") as grandchild:
                grandchild.log_param("p", 1)
    digest = sy.get_run(parent.id).artifacts[0].digest

    deleted = sy.delete_run(parent.id[:12], purge=True)
    assert set(deleted) == {parent.id, child.id, grandchild.id}
    for run_id in deleted:
        with pytest.raises(NotFound):
            sy.get_run(run_id)
    with default_database().read() as conn:
        for table in ("runs", "params", "tags", "metrics", "latest_metrics", "artifacts"):
            column = "id" if table == "runs" else "run_id"
            query = text(f"select count(*) from {table} where {column} in (:a, :b, :c)")
            assert conn.scalar(query, dict(zip("abc", deleted, strict=True))) == 0, table
    assert default_artifacts().exists(digest)  # content may be shared: kept
    assert set(names(sy.search_runs(include_deleted=True))) == ALL | {"omega"}
    with pytest.raises(NotFound):
        sy.delete_run(parent.id)


def test_keyset_pages_handle_ties_in_the_sort_key(backend):
    for n in range(7):
        with sy.start_run(experiment="ties", name=f"t{n}") as run:
            run.log_metric("score", 0.5 if n % 3 else 0.25)
    for filter, order_by in (
        ("metrics.score > 0", ["metrics.score desc"]),  # inner join: keyset on (value, ...)
        (None, ["end_time desc"]),  # nullable sort key: offset pages
        (None, ["status", "name desc"]),
    ):
        everything = sy.search_runs("ties", filter=filter, order_by=order_by)
        seen, token = [], None
        while True:
            page = sy.search_runs(
                "ties", filter=filter, order_by=order_by, max_results=2, page_token=token
            )
            seen.extend(page["run_id"])
            token = page.attrs["next_page_token"]
            if token is None:
                break
        assert seen == list(everything["run_id"]), (filter, order_by)
        assert len(set(seen)) == 7

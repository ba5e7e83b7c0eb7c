"""Schedules and triggers: cron times in a zone (DST included, pure functions), refusals of
bad input in one line, and cron firings claimed once each by ``Scheduler.tick``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
import sched_flows as flows

import shipyard as sy
from shipyard.errors import InvalidInput, NotFound
from shipyard.pipelines._cron import CATCH_UP, check_zone, due, key_of

UTC = timezone.utc


def _at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def _keys(found: object) -> list[str]:
    return [key_of(moment) for _, moment in found.times]  # type: ignore[attr-defined]


def test_cron_times_are_wall_times_of_the_zone() -> None:
    paris = check_zone("Europe/Paris")
    found = due("0 3 * * *", paris, datetime(2026, 6, 1, 12), _at(2026, 6, 4, 0))
    # 03:00 in Paris in June is 01:00 UTC; two such mornings have passed
    assert _keys(found) == [f"cron:2026-06-0{d}T01:00:00Z" for d in (2, 3)]
    assert due("0 3 * * *", paris, datetime(2026, 6, 3, 3), _at(2026, 6, 4, 0)).times == []
    at_the_minute = due(
        "*/5 * * * *", check_zone("UTC"), datetime(2026, 1, 1), _at(2026, 1, 1, 0, 10)
    )
    assert _keys(at_the_minute)[-1] == "cron:2026-01-01T00:10:00Z"  # due at its own second


def test_spring_forward_fires_a_skipped_wall_time_once_and_fall_back_once() -> None:
    berlin = check_zone("Europe/Berlin")
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist
    spring = due("30 2 * * *", berlin, datetime(2026, 3, 28, 12), _at(2026, 3, 29, 12))
    assert _keys(spring) == ["cron:2026-03-29T01:30:00Z"]  # as 03:30 CEST, once
    quarter = due("*/15 * * * *", berlin, datetime(2026, 3, 29, 1, 40), _at(2026, 3, 29, 1, 50))
    keys = _keys(quarter)
    assert len(set(keys)) == 5 and keys[0] == "cron:2026-03-29T00:45:00Z"  # one per instant
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice, fires once
    autumn = due("30 2 * * *", berlin, datetime(2026, 10, 24, 12), _at(2026, 10, 25, 12))
    assert _keys(autumn) == ["cron:2026-10-25T00:30:00Z"]
    # during the repeated hour, times already handled in its first pass are not due again
    again = due("*/15 * * * *", berlin, datetime(2026, 10, 25, 2, 45), _at(2026, 10, 25, 1, 10))
    assert again.times == []


def test_a_long_stop_catches_up_the_newest_times_and_reports_the_rest() -> None:
    found = due("* * * * *", check_zone("UTC"), datetime(2026, 1, 1), _at(2026, 1, 2))
    assert len(found.times) == CATCH_UP
    assert _keys(found)[-1] == "cron:2026-01-02T00:00:00Z"
    assert found.skipped == (datetime(2026, 1, 1, 0, 1), datetime(2026, 1, 1, 23, 50))


@pytest.fixture
def registered(home: Path) -> Path:
    sy.pipelines.register(flows.note_pipeline)
    return home


@pytest.mark.parametrize(
    ("call", "error", "says"),
    [
        (lambda: sy.pipelines.schedule("sched-note", "61 * * * *"), InvalidInput, "cron must"),
        (lambda: sy.pipelines.schedule("sched-note", "* * * * * *"), InvalidInput, "five fields"),
        (lambda: sy.pipelines.schedule("sched-note", ""), InvalidInput, "cron must"),
        (
            lambda: sy.pipelines.schedule("sched-note", "0 3 * * *", timezone="Mars/Olympus"),
            InvalidInput,
            "timezone must",
        ),
        (lambda: sy.pipelines.schedule("nope", "0 3 * * *"), NotFound, "nope"),
        (lambda: sy.pipelines.schedule("no pe", "0 3 * * *"), InvalidInput, "Pipeline name"),
        (
            lambda: sy.pipelines.schedule("sched-note", "0 3 * * *", params={"nope": 1}),
            InvalidInput,
            "parameters",
        ),
        (lambda: sy.pipelines.trigger("sched-note", "weather:rain"), InvalidInput, "on must"),
        (lambda: sy.pipelines.trigger("sched-note", "dataset:"), InvalidInput, "on must"),
        (
            lambda: sy.pipelines.trigger("sched-note", "dataset:loans", rows=5),
            InvalidInput,
            "rows applies",
        ),
        (lambda: sy.pipelines.trigger("sched-note", "labels:loans"), InvalidInput, "rows must"),
        (lambda: sy.pipelines.trigger("sched-note", "dataset:ghost"), NotFound, "ghost"),
        (lambda: sy.pipelines.trigger("sched-note", "alert:ghost"), NotFound, "ghost"),
        (lambda: sy.pipelines.trigger("sched-note", "labels:ghost", rows=3), NotFound, "ghost"),
        (lambda: sy.pipelines.delete_schedule("ghost"), NotFound, "ghost"),
        (lambda: sy.pipelines.set_schedule_enabled("x", "yes"), InvalidInput, "enabled"),
    ],
)
def test_bad_input_is_refused_in_one_line(
    registered: Path, call: object, error: type[Exception], says: str
) -> None:
    with pytest.raises(error) as raised:
        call()  # type: ignore[operator]
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_schedules_are_listed_paused_and_deleted(registered: Path) -> None:
    nightly = sy.pipelines.schedule("sched-note", "0 3 * * *", timezone="Europe/Paris")
    sy.datasets.register("events", pd.DataFrame({"x": [1, 2]}))
    on_data = sy.pipelines.trigger("sched-note", "dataset:events", params={"tag": "data"})
    assert on_data.cursor == {"version": 1} and on_data.params == {"tag": "data"}
    assert [s.id for s in sy.pipelines.list_schedules()] == [nightly.id, on_data.id]
    assert sy.pipelines.list_schedules("other") == []
    paused = sy.pipelines.set_schedule_enabled(nightly.id, False)
    assert not paused.enabled and sy.pipelines.set_schedule_enabled(nightly.id, True).enabled
    sy.pipelines.delete_schedule(nightly.id)
    assert [s.id for s in sy.pipelines.list_schedules()] == [on_data.id]


def test_a_cron_schedule_fires_each_due_time_once(registered: Path) -> None:
    made = sy.pipelines.schedule("sched-note", "* * * * *", params={"tag": "cron"})
    later = made.created_at + 180
    first = sy.pipelines.Scheduler(owner="a", max_runs=0, monitors=False)
    fired = first.tick(now=later)
    assert len(fired) == 3  # three minute marks in any 180 s (the one before creation is not)
    again = sy.pipelines.Scheduler(owner="b", max_runs=0, monitors=False)
    assert again.tick(now=later) == [] and first.tick(now=later) == []
    firings = sy.pipelines.list_firings(made.id)
    assert [f["run_id"] for f in firings] == fired
    assert all(f["key"].startswith("cron:") and f["claimed_by"] == "a" for f in firings)
    run = sy.pipelines.get_run(fired[0])
    assert run.status == "queued" and run.params["tag"] == "cron"
    assert run.trigger is not None and run.trigger["kind"] == "cron"
    assert run.trigger["schedule"] == made.id and run.trigger["firing"] == firings[0]["key"]
    # a day later: only the newest are fired, the rest recorded as one skipped range
    more = first.tick(now=later + 86_400)
    assert len(more) == 10
    skipped = [f for f in sy.pipelines.list_firings(made.id) if f["key"].startswith("skipped:")]
    assert len(skipped) == 1 and skipped[0]["run_id"] is None


def test_a_paused_cron_does_not_fire_and_resumes_from_now(registered: Path) -> None:
    made = sy.pipelines.schedule("sched-note", "* * * * *")
    sy.pipelines.set_schedule_enabled(made.id, False)
    scheduler = sy.pipelines.Scheduler(max_runs=0, monitors=False)
    assert scheduler.tick(now=made.created_at + 300) == []
    sy.pipelines.set_schedule_enabled(made.id, True)
    resumed = sy.pipelines.list_schedules()[0]
    assert resumed.cursor["after"] > made.cursor["after"]


@pytest.mark.parametrize("kind", sorted(sy.pipelines.TRIGGERS))
def test_every_trigger_kind_names_itself_and_refuses_a_missing_target(
    home: Path, kind: str
) -> None:
    entry = sy.pipelines.TRIGGERS[kind]
    assert entry.kind == kind and entry.help
    with pytest.raises(NotFound):
        entry.check("ghost")

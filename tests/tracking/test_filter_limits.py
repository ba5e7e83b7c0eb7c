"""Filter limits (issue 17): a filter too deep, too long or with too many terms is refused
with one InvalidFilter before any SQL is built, and a filter at each limit runs on SQLite
and PostgreSQL alike."""

from __future__ import annotations

import pytest

import shipyard as sy
from shipyard.errors import InvalidFilter, InvalidInput
from shipyard.tracking._filter import MAX_COMPARISONS, MAX_DEPTH, MAX_IN_VALUES, MAX_LENGTH


@pytest.fixture
def two_runs(backend: str) -> dict[str, str]:
    ids = {}
    for name, auc in (("low", 0.5), ("high", 0.9)):
        with sy.start_run(experiment="limits", name=name) as run:
            run.log_metric("auc", auc)
            run.log_param("model", name)
            ids[name] = run.id
    return ids


def found(filter: str) -> set[str]:
    return set(sy.search_runs("limits", filter=filter)["name"])


def ors(count: int) -> str:
    return " or ".join(f"metrics.auc = {i / 1000}" for i in range(count - 1)) + (
        " or metrics.auc = 0.9"
    )


def nested(depth: int) -> str:
    return "(" * depth + "metrics.auc > 0.8" + ")" * depth


def test_filters_at_the_limits_run_on_every_backend(two_runs):
    assert found(ors(MAX_COMPARISONS)) == {"high"}
    assert found(" and ".join(["metrics.auc > 0.1"] * MAX_COMPARISONS)) == {"low", "high"}
    assert found(nested(MAX_DEPTH)) == {"high"}
    assert found("not " * (MAX_DEPTH - 1) + "metrics.auc > 0.8") == {"low"}  # odd: negated
    assert found("not " * MAX_DEPTH + "metrics.auc > 0.8") == {"high"}
    values = ", ".join(f"'m{i}'" for i in range(MAX_IN_VALUES - 1))
    assert found(f"params.model in ({values}, 'low')") == {"low"}


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        (nested(400), f"deeper than {MAX_DEPTH} levels"),
        (nested(MAX_DEPTH + 1), f"deeper than {MAX_DEPTH} levels"),
        ("not " * 2000 + "metrics.auc > 0", f"deeper than {MAX_DEPTH} levels"),
        (ors(999), f"more than {MAX_COMPARISONS} comparisons"),
        (ors(MAX_COMPARISONS + 1), f"more than {MAX_COMPARISONS} comparisons"),
        (" and ".join(["metrics.auc > 0"] * 1000), f"more than {MAX_COMPARISONS} comparisons"),
        (
            "params.model in (" + ", ".join(["'a'"] * (MAX_IN_VALUES + 1)) + ")",
            f"at most {MAX_IN_VALUES} values",
        ),
        ("metrics.auc > 0" + " " * MAX_LENGTH, f"at most {MAX_LENGTH} are accepted"),
    ],
    ids=["400-parens", "depth+1", "2000-nots", "999-ors", "terms+1", "1000-ands", "in", "long"],
)
def test_filters_past_a_limit_are_refused_as_invalid_input(two_runs, filter, message):
    with pytest.raises(InvalidFilter, match=message) as info:
        sy.search_runs("limits", filter=filter)
    assert isinstance(info.value, InvalidInput)
    assert info.value.http_status == InvalidInput.http_status
    assert str(info.value).count("\n") == 2  # message, filter, pointer


def test_the_cli_answers_a_deep_filter_with_the_message_not_a_traceback(two_runs):
    from typer.testing import CliRunner

    from shipyard.cli import app

    result = CliRunner().invoke(app, ["runs", "list", "-e", "limits", "--filter", nested(400)])
    assert result.exit_code != 0
    assert f"deeper than {MAX_DEPTH} levels" in result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output

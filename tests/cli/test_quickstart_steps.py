"""The quick start's step table: the progress lines ``shipyard quickstart`` prints."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import shipyard as sy
from shipyard import quickstart
from shipyard.data import make_loans
from shipyard.errors import InvalidInput


def test_the_steps_print_the_quick_starts_progress_lines_in_order() -> None:
    lines = [line for step in quickstart.STEPS for _, line in step.lines(quickstart.Options())]
    assert lines == [
        "data: register loan applications as a dataset version",
        "data: register a later, drifted month (its checks may flag it: on purpose) and diff it",
        "train: gradient boosting, learning_rate=0.05",
        "train: gradient boosting, learning_rate=0.1",
        "train: gradient boosting, learning_rate=0.3",
        "select: best child run by test AUC",
        "registry: register the models as versions of loans-default, promote the best",
        "registry: export the champion to ONNX, checked against the native model",
        "automl: search model families for 10 s, register the best",
        "serving: deploy loans-default@champion with the challenger in shadow, send it traffic",
        "serving: the challenger as a canary, judged by sequential tests on posted labels",
        "monitoring: check the traffic and the newest month against the training data",
        "pipelines: the alert starts retrain-loans; its candidate goes on canary",
        "governance: explain the champion, its fairness by gender, its card; gate the challenger",
    ]
    assert quickstart.stage_count() == len(lines)


def test_a_step_runs_once_per_item_with_its_options() -> None:
    options = quickstart.Options(learning_rates=(0.2,), automl_budget=2.5)
    by_name = {step.name: [line for _, line in step.lines(options)] for step in quickstart.STEPS}
    assert by_name["train"] == ["train: gradient boosting, learning_rate=0.2"]
    assert by_name["automl"] == ["automl: search model families for 2.5 s, register the best"]
    assert len({step.name for step in quickstart.STEPS}) == len(quickstart.STEPS)
    assert quickstart.stage_count(options) == 12


def test_the_drifted_month_is_flagged_on_purpose_and_explained_not_warned(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loop = quickstart.Loop(quickstart.Options(rows=2_000), lambda _line: None)
    steps = {step.name: step for step in quickstart.STEPS}
    with caplog.at_level(logging.WARNING, logger="shipyard.data"):
        steps["data"].work(loop, None)
        steps["drift"].work(loop, None)
        assert caplog.records == []  # no bare "breaks its schema" warning
        failures = loop.drifted.validation["failures"]
        assert failures and len(loop.drifted_flags) == len(failures)
        assert all(f"{f['column']} ({f['check']}, " in flag
                   for f, flag in zip(failures, loop.drifted_flags, strict=True))  # fmt: skip
        sy.datasets.register("loans", make_loans(2_000, seed=5, drift=1.0))
        assert (
            "outside its dataset's schema" in caplog.text
        )  # held back only for the quick start's own


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"automl_budget": -1}, "automl_budget must be a positive number"),
        ({"automl_budget": float("nan")}, "automl_budget must be a positive number"),
        ({"rows": 10}, "rows must be a whole number from 1,000"),
        ({"seed": -1}, "seed must be a whole number from 0"),
        ({"learning_rates": ()}, "learning_rates must be positive numbers"),
        ({"serve_requests": 0}, "serve_requests must be a whole number from 1"),
    ],
)
def test_bad_knobs_are_refused_before_anything_is_registered(
    home: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        quickstart.run(**kwargs)
    assert sy.datasets.list_datasets() == [] and sy.search_runs().empty

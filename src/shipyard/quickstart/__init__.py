"""The whole loop on bundled data, as far as Shipyard goes today.

Stages (each later capability adds its own): register the loan applications as a dataset
version (schema inferred, profile stored), register a later, drifted month and diff the two;
train a gradient-boosting model for a few learning rates as child runs of one tracked run
that reads the dataset version (lineage), with learning curves, test metrics and artifacts,
then pick the best; register every model as a version of ``loans-default``, point the
``champion`` alias at the best and promote it to production, export it to ONNX (checked
against the native model) and score the drifted month with it; then let AutoML search model
families for a few seconds and register its best as the ``challenger``; deploy the champion
with the challenger in shadow, serve it over HTTP on 127.0.0.1, send it the drifted month's
applications with their outcomes as feedback, and read the inference log back; then try
the challenger as a canary whose share grows while sequential tests on the labels posted
find it no worse than the champion (rolled back when they find it worse); then let a
monitor check that traffic against the training data (data, prediction and multivariate
drift, quality, accuracy on the outcomes) and a dataset monitor check the newest month,
raising alerts and writing an HTML report, and read its data back through the platform
REST API (served from a thread); the monitor's alert starts the retraining pipeline
(``retrain-loans``: the newest month, validated, the champion's configuration refitted,
judged against the champion on one holdout, registered and put on canary), and the next
weeks' traffic lets the canary promote or roll back the candidate; last, governance: the
champion is explained (SHAP), its fairness across gender reported (Fairlearn), its card
written, a promotion policy set for the model, the challenger checked against it, and the
audit log of every change verified.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.quickstart._governance import govern
from shipyard.quickstart._live import serve_traffic, try_canary, watch
from shipyard.quickstart._loop import close_the_loop
from shipyard.quickstart._stages import (
    EXPERIMENT,
    LEARNING_RATES,
    MODEL,
    Loop,
    Options,
    Progress,
    QuickstartResult,
    ensemble_summary,
    export_champion,
    register_data,
    register_drifted,
    register_models,
    search,
    select,
    train,
)

__all__ = ["STEPS", "Options", "QuickstartResult", "Step", "run", "stage_count"]


def _once(_options: Options) -> Sequence[Any]:
    return (None,)


@dataclass(frozen=True)
class Step:
    """One stage of the quick start: its name, the line printed as it starts, and its work.

    ``description`` is formatted with ``options``, ``model`` and ``item``; a step runs once,
    or once per element of ``items(options)`` (printing its line each time)."""

    name: str
    description: str
    work: Callable[[Loop, Any], None]
    items: Callable[[Options], Sequence[Any]] = _once

    def lines(self, options: Options) -> list[tuple[Any, str]]:
        """Each run of the step with the progress line printed as it starts: (item, line)."""
        return [
            (item, self.description.format(options=options, model=MODEL, item=item))
            for item in self.items(options)
        ]


def _learning_rates(options: Options) -> Sequence[float]:
    return options.learning_rates


STEPS: tuple[Step, ...] = (
    Step("data", "data: register loan applications as a dataset version", register_data),
    Step(
        "drift",
        "data: register a later, drifted month (its checks may flag it: on purpose) and diff it",
        register_drifted,
    ),
    Step("train", "train: gradient boosting, learning_rate={item}", train, items=_learning_rates),
    Step("select", "select: best child run by test AUC", select),
    Step(
        "register",
        "registry: register the models as versions of {model}, promote the best",
        register_models,
    ),
    Step(
        "export",
        "registry: export the champion to ONNX, checked against the native model",
        export_champion,
    ),
    Step(
        "automl",
        "automl: search model families for {options.automl_budget:g} s, register the best",
        search,
    ),
    Step(
        "serve",
        "serving: deploy {model}@champion with the challenger in shadow, send it traffic",
        serve_traffic,
    ),
    Step(
        "canary",
        "serving: the challenger as a canary, judged by sequential tests on posted labels",
        try_canary,
    ),
    Step(
        "monitor",
        "monitoring: check the traffic and the newest month against the training data",
        watch,
    ),
    Step(
        "loop",
        "pipelines: the alert starts retrain-loans; its candidate goes on canary",
        close_the_loop,
    ),
    Step(
        "govern",
        "governance: explain the champion, its fairness by gender, its card; gate the challenger",
        govern,
    ),
)
"""The quick start, in order. A later capability adds its stage here."""


def stage_count(options: Options | None = None) -> int:
    """How many progress lines ``run`` prints with these options."""
    chosen = options or Options()
    return sum(len(step.lines(chosen)) for step in STEPS)


def run(
    rows: int = 8_000,
    seed: int = 0,
    learning_rates: tuple[float, ...] = LEARNING_RATES,
    progress: Progress | None = None,
    automl_budget: float = 10.0,
    serve_requests: int = 200,
) -> QuickstartResult:
    """Run every stage; ``progress`` is called with the name of each stage as it starts."""
    options = Options(rows, seed, learning_rates, automl_budget, serve_requests)
    loop = Loop(options, progress or (lambda _stage: None))
    with loop.parent_run:  # ends the parent run as failed if a step before ``select`` fails
        for step in STEPS:
            for item, line in step.lines(options):
                loop.stage(line)
                step.work(loop, item)
    return QuickstartResult(
        EXPERIMENT,
        loop.parent.id,
        [c.run_id for c in loop.children],
        loop.best.run_id,
        loop.best.params,
        loop.best.metrics,
        dataset=loop.reference.ref,
        drifted=loop.drifted.ref,
        drifted_flags=loop.drifted_flags,
        moved=loop.moved,
        stages=loop.stages,
        model=loop.best_ref,
        export=loop.export,
        drifted_default_rate=float(np.mean(loop.scored)),
        challenger=loop.challenger,
        automl_trials=len(loop.searched.leaderboard),
        automl_metrics=loop.searched.best.metrics,
        automl_ensemble=ensemble_summary(loop.searched),
        **loop.served,
        **loop.canaried,
        **loop.watched,
        **loop.looped,
        governance=loop.governed,
    )

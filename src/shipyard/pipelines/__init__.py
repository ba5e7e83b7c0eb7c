"""Pipelines: steps wired into a DAG by data flow, cached, retried, scheduled and triggered.

``@sy.step`` marks a function as a step and ``@sy.pipeline`` a function whose body calls
steps; calling the pipeline runs it (worker processes by default, or ``executor="ray"``)
and records every run and step run: status, times, attempts, captured output, what each
step returned. ``sy.pipelines.run("retrain-loans", params={...})`` runs a registered
pipeline by name, ``resume(run_id)`` re-runs what failed, ``cancel(run_id)`` stops one;
``report(run_id, "dag.html")`` draws a run's DAG with each step's state and time.
``retraining(deployment=..., target=...)`` registers the stock retraining pipeline. While
a step runs, ``SHIPYARD_PIPELINE_RUN`` holds its run's id and ``SHIPYARD_PIPELINE_STEP`` its
name (``get_run(run_id).trigger`` says what started the run).
``schedule("retrain-loans", "0 3 * * *", timezone="Europe/Paris")`` and
``trigger("retrain-loans", on="dataset:loans")`` (``model:``, ``alert:``, ``labels:``; one
entry of ``TRIGGERS`` each) start runs through ``shipyard scheduler`` (:class:`Scheduler`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.pipelines._api import (
        Pipeline,
        cancel,
        enqueue,
        get_pipeline,
        get_run,
        list_pipelines,
        list_runs,
        lost,
        pipeline,
        register,
        resume,
        run,
        run_queued,
        versions,
    )
    from shipyard.pipelines._api import step_output as output
    from shipyard.pipelines._executors import EXECUTORS, Executor
    from shipyard.pipelines._graph import Output, Step, step
    from shipyard.pipelines._records import PipelineRun, PipelineVersion, StepRun
    from shipyard.pipelines._report import report
    from shipyard.pipelines._retraining import retraining
    from shipyard.pipelines._scheduler import Scheduler
    from shipyard.pipelines._schedules import (
        Schedule,
        delete_schedule,
        list_firings,
        list_schedules,
        schedule,
        set_schedule_enabled,
        trigger,
    )
    from shipyard.pipelines._triggers import TRIGGERS, Trigger
    from shipyard.pipelines._values import VALUE_KINDS, ValueKind


__all__ = [
    "EXECUTORS",
    "TRIGGERS",
    "VALUE_KINDS",
    "Executor",
    "Output",
    "Pipeline",
    "PipelineRun",
    "PipelineVersion",
    "Schedule",
    "Scheduler",
    "Step",
    "StepRun",
    "Trigger",
    "ValueKind",
    "cancel",
    "delete_schedule",
    "enqueue",
    "get_pipeline",
    "get_run",
    "list_firings",
    "list_pipelines",
    "list_runs",
    "list_schedules",
    "lost",
    "output",
    "pipeline",
    "register",
    "report",
    "resume",
    "retraining",
    "run",
    "run_queued",
    "schedule",
    "set_schedule_enabled",
    "step",
    "trigger",
    "versions",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

"""Pipelines the scheduler tests fire (a module, so workers and scheduler processes import
it; ``tests/pipelines`` goes on their PYTHONPATH)."""

from __future__ import annotations

import time
from pathlib import Path

import shipyard as sy


@sy.step
def note(path: str, tag: str) -> str:
    """Append ``tag`` to the file ``path`` (a record of what ran)."""
    if path:
        with open(path, "a") as out:
            out.write(f"{tag}\n")
    return tag


@sy.pipeline(name="sched-note")
def note_pipeline(path: str = "", tag: str = "ran"):
    return note(path, tag)


@sy.step
def hold(path: str, seconds: float) -> str:
    """Note the start; while ``<path>.hold`` exists, wait (up to ``seconds``)."""
    with open(path, "a") as out:
        out.write("start\n")
    deadline = time.monotonic() + seconds
    while Path(path + ".hold").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return "held"


@sy.step
def finish(held: str, path: str) -> str:
    with open(path, "a") as out:
        out.write("finish\n")
    return held + "+finished"


@sy.pipeline(name="sched-hold")
def hold_pipeline(path: str = "", seconds: float = 20.0):
    return finish(hold(path, seconds), path)

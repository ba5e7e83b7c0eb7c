"""Shipyard's side of ``bench/pipelines.py``, run in a fresh process of its own.

``python bench/_pipelines_sy.py '<json job>'`` runs the job's scenarios and prints one line
of JSON (the samples) last. ``bench/pipelines.py`` starts it with ``SHIPYARD_HOME`` (and the
database and artifact settings) pointing at a new folder. The steps are defined in this
script, as a user's would be: the workers receive them by value (cloudpickle).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from _common import PeakTreeMemory, tree_rss_kib, wait_quiet

T0 = time.perf_counter()
import shipyard as sy  # noqa: E402
from shipyard.errors import InvalidInput  # noqa: E402

IMPORT_S = time.perf_counter() - T0


@sy.step
def noop(x, i):
    """A step that does nothing: it hands its input on (``i``, its place, makes each step's
    inputs differ: a step with the same code and inputs as an earlier one is a cache hit)."""
    return x


@sy.step
def source(seed):
    """The fan-out's source."""
    return seed


@sy.step
def work(s, i):
    """One of the fan-out's independent steps."""
    return s + i


@sy.step
def combine(parts):
    """The fan-in: one step taking every fan-out output."""
    return sum(parts)


@sy.pipeline(name="bench-chain")
def chain(seed: int = 0, steps: int = 100):
    """``steps`` no-op steps in a row."""
    x: Any = seed
    for i in range(steps):
        x = noop(x, i)
    return x


@sy.pipeline(name="bench-fan")
def fan(seed: int = 0, width: int = 500):
    """One source, ``width`` independent steps, one step combining them."""
    s = source(seed)
    return combine([work(s, i) for i in range(width)])


def expected_fan(seed: int, width: int) -> int:
    """What the fan-out's last step returns."""
    return width * seed + width * (width - 1) // 2


def _run(pipe: Any, executor: str, **params: Any) -> Any:
    run = sy.pipelines.run(pipe, params=params, executor=executor)
    if run.status != "succeeded":
        raise RuntimeError(f"Shipyard run {run.id} {run.status}: {run.error}")
    return run


def timed(pipe: Any, executor: str, **params: Any) -> tuple[float, Any]:
    """Seconds of one run (after the machine is quiet), and the run."""
    wait_quiet()
    start = time.perf_counter()
    run = _run(pipe, executor, **params)
    return time.perf_counter() - start, run


def fresh_seed() -> int:
    """A seed no run used: no step of the run can be a cache hit."""
    return time.time_ns()


def chain_samples(job: dict[str, Any], executor: str) -> dict[str, list[float]]:
    """Chains of 1 and ``steps`` steps, taking turns, each with new inputs (no cache hits)."""
    out: dict[str, list[float]] = {"one": [], "chain": []}
    deadline = time.perf_counter() + job["budget"]
    while len(out["chain"]) < job["runs"]:
        for key, steps in (("one", 1), ("chain", job["steps"])):
            seconds, run = timed(chain, executor, seed=fresh_seed(), steps=steps)
            statuses = {s.status for s in run.steps}
            assert statuses == {"succeeded"}, statuses
            out[key].append(seconds)
        if time.perf_counter() > deadline:
            break
    return out


def cached_samples(job: dict[str, Any]) -> dict[str, Any]:
    """A ``steps``-step chain run once, then re-run with the same inputs (every step a hit)."""
    seed = fresh_seed()
    cold, _ = timed(chain, "local", seed=seed, steps=job["steps"])
    samples = []
    for _ in range(job["runs"]):
        seconds, run = timed(chain, "local", seed=seed, steps=job["steps"])
        statuses = {s.status for s in run.steps}
        assert statuses == {"cached"}, statuses
        assert sy.pipelines.output(run.id, f"noop-{job['steps']}") == seed
        samples.append(seconds)
    return {"cold": cold, "samples": samples}


def fan_samples(job: dict[str, Any], executor: str) -> dict[str, Any]:
    """The fan-out, ``runs`` times (new inputs each time): wall time, peak tree memory."""
    width = job["fanout"]
    samples, peaks = [], []
    deadline = time.perf_counter() + job["budget"]
    for _ in range(job["runs"]):
        seed = fresh_seed()
        wait_quiet()
        before = tree_rss_kib(os.getpid())
        with PeakTreeMemory() as peak:
            start = time.perf_counter()
            run = _run(fan, executor, seed=seed, width=width)
            samples.append(time.perf_counter() - start)
        assert {s.status for s in run.steps} == {"succeeded"}
        assert len(run.steps) == width + 2
        assert sy.pipelines.output(run.id, "combine") == expected_fan(seed, width)
        peaks.append({"peak_kib": peak.peak_kib, "before_kib": before})
        if time.perf_counter() > deadline:
            break
    return {"samples": samples, "memory": peaks}


def unavailable(executor: str) -> str | None:
    """Why ``executor`` cannot run here (None when it can): tried on a one-step chain."""
    try:
        _run(chain, executor, seed=fresh_seed(), steps=1)
    except InvalidInput as exc:
        return str(exc)
    return None


def main(job: dict[str, Any]) -> dict[str, Any]:
    """Run the job's scenarios; their samples."""
    executor = job.get("executor", "local")
    result: dict[str, Any] = {"import_s": IMPORT_S, "executor": executor}
    start = time.perf_counter()
    why = unavailable(executor)
    if why is not None:
        return {**result, "unavailable": why}
    result["first_s"] = time.perf_counter() - start  # the first (one-step) run
    # a small fan-out too, so every kind of run has run once before timing
    _run(fan, executor, seed=fresh_seed(), width=min(10, job["fanout"]))
    if "chain" in job["scenarios"]:
        result["chain"] = chain_samples(job, executor)
    if "cached" in job["scenarios"]:
        result["cached"] = cached_samples(job)
    if "fan" in job["scenarios"]:
        result["fan"] = fan_samples(job, executor)
    return result


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)

"""Prefect's side of ``bench/pipelines.py``, run in a fresh process of its own.

``python bench/_pipelines_pf.py '<json job>'`` runs the job's scenarios and prints one line
of JSON (the samples) last. ``bench/pipelines.py`` starts it with ``PREFECT_HOME`` in a new
folder and no ``PREFECT_API_URL``: the first flow run starts Prefect's temporary local server
(a uvicorn subprocess on 127.0.0.1, SQLite in ``PREFECT_HOME``), which every later run of
this process uses. The tasks do the same work as ``_pipelines_sy.py``'s steps.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from _common import PeakTreeMemory, tree_rss_kib, wait_quiet

T0 = time.perf_counter()
from prefect import flow, task  # noqa: E402
from prefect.cache_policies import INPUTS, TASK_SOURCE  # noqa: E402
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner  # noqa: E402

IMPORT_S = time.perf_counter() - T0


@task
def noop(x, i):
    """A task that does nothing: it hands its input on."""
    return x


@task(cache_policy=INPUTS + TASK_SOURCE)
def cached_noop(x, i):
    """The same, cached by its inputs and its code (Shipyard's cache key)."""
    return x


@task
def source(seed):
    """The fan-out's source."""
    return seed


@task
def work(s, i):
    """One of the fan-out's independent tasks."""
    return s + i


@task
def combine(parts):
    """The fan-in: one task taking every fan-out output."""
    return sum(parts)


@flow(name="bench-chain")
def chain(seed: int, steps: int) -> Any:
    """``steps`` no-op tasks in a row, each submitted to the flow's task runner (the
    default ``ThreadPoolTaskRunner``) with the previous one's future."""
    x: Any = seed
    for i in range(steps):
        x = noop.submit(x, i)
    return x.result()


@flow(name="bench-chain-calls")
def chain_calls(seed: int, steps: int) -> Any:
    """Reference: the same chain as plain task calls (each runs in the flow's thread)."""
    x: Any = seed
    for i in range(steps):
        x = noop(x, i)
    return x


@flow(name="bench-cached-chain")
def cached_chain(seed: int, steps: int) -> list[str]:
    """The chain of cached tasks; the name of each task run's final state."""
    x: Any = seed
    futures = []
    for i in range(steps):
        x = cached_noop.submit(x, i)
        futures.append(x)
    assert x.result() == seed
    return [f.state.name for f in futures]


def _fan(seed: int, width: int) -> Any:
    s = source.submit(seed)
    return combine.submit([work.submit(s, i) for i in range(width)]).result()


@flow(name="bench-fan-threads", task_runner=ThreadPoolTaskRunner())
def fan_threads(seed: int, width: int) -> Any:
    """One source, ``width`` independent tasks, one combining them: threads."""
    return _fan(seed, width)


@flow(name="bench-fan-processes", task_runner=ProcessPoolTaskRunner())
def fan_processes(seed: int, width: int) -> Any:
    """The same on a pool of processes (one per CPU)."""
    return _fan(seed, width)


FANS = {"threads": fan_threads, "processes": fan_processes}


def expected_fan(seed: int, width: int) -> int:
    """What the fan-out's last task returns."""
    return width * seed + width * (width - 1) // 2


def fresh_seed() -> int:
    """A seed no run used."""
    return time.time_ns()


#: A standing server's process (``--server-pid``), when not the temporary one.
SERVER: list[int] = []


def timed(fn: Any, **params: Any) -> tuple[float, Any]:
    """Seconds of one flow run (after the server has gone quiet), and what it returned."""
    wait_quiet(SERVER)
    start = time.perf_counter()
    out = fn(**params)
    return time.perf_counter() - start, out


def chain_samples(job: dict[str, Any]) -> dict[str, list[float]]:
    """Chains of 1 and ``steps`` tasks, submitted and (reference) called, taking turns."""
    out: dict[str, list[float]] = {"one": [], "chain": [], "calls_one": [], "calls": []}
    deadline = time.perf_counter() + job["budget"]
    while len(out["chain"]) < job["runs"]:
        for key, fn, steps in (
            ("one", chain, 1),
            ("chain", chain, job["steps"]),
            ("calls_one", chain_calls, 1),
            ("calls", chain_calls, job["steps"]),
        ):
            seed = fresh_seed()
            seconds, value = timed(fn, seed=seed, steps=steps)
            assert value == seed, (value, seed)
            out[key].append(seconds)
        if time.perf_counter() > deadline:
            break
    return out


def cached_samples(job: dict[str, Any]) -> dict[str, Any]:
    """The cached chain run once, then re-run with the same inputs (every task a hit)."""
    seed = fresh_seed()
    cold, states = timed(cached_chain, seed=seed, steps=job["steps"])
    assert set(states) == {"Completed"}, set(states)
    samples = []
    for _ in range(job["runs"]):
        seconds, states = timed(cached_chain, seed=seed, steps=job["steps"])
        assert set(states) == {"Cached"}, set(states)
        samples.append(seconds)
    return {"cold": cold, "samples": samples}


def fan_samples(job: dict[str, Any], runner: str) -> dict[str, Any]:
    """The fan-out, ``runs`` times: wall time, peak memory of the process tree."""
    width, fn = job["fanout"], FANS[runner]
    samples, peaks = [], []
    deadline = time.perf_counter() + job["budget"]
    for _ in range(job["runs"]):
        seed = fresh_seed()
        wait_quiet(SERVER)
        roots = [os.getpid(), *SERVER]
        before = sum(tree_rss_kib(pid) for pid in roots)
        with PeakTreeMemory(roots) as peak:
            start = time.perf_counter()
            value = fn(seed=seed, width=width)
            samples.append(time.perf_counter() - start)
        assert value == expected_fan(seed, width), value
        peaks.append({"peak_kib": peak.peak_kib, "before_kib": before})
        if time.perf_counter() > deadline:
            break
    return {"samples": samples, "memory": peaks}


def main(job: dict[str, Any]) -> dict[str, Any]:
    """Run the job's scenarios; their samples."""
    runner = job.get("runner", "threads")
    SERVER.extend(job.get("server_pids", []))
    result: dict[str, Any] = {"import_s": IMPORT_S, "runner": runner}
    start = time.perf_counter()
    seed = fresh_seed()
    assert chain(seed=seed, steps=1) == seed  # starts the temporary server
    result["first_s"] = time.perf_counter() - start
    # a small fan-out too, so every kind of run has run once before timing
    small = min(10, job["fanout"])
    assert FANS[runner](seed=seed, width=small) == expected_fan(seed, small)
    if "chain" in job["scenarios"]:
        result["chain"] = chain_samples(job)
    if "cached" in job["scenarios"]:
        result["cached"] = cached_samples(job)
    if "fan" in job["scenarios"]:
        result["fan"] = fan_samples(job, runner)
    return result


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)

"""A pipeline for the Ray executor tests (a module, so Ray workers import its steps)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import shipyard as sy


@sy.step
def numbers(n: int) -> list[int]:
    print(f"making {n} numbers")
    return list(range(n))


@sy.step(cpus=0.5)
def power(xs: list[int], k: int) -> list[int]:
    return [x**k for x in xs]


@sy.step
def add_up(parts: list[list[int]]) -> int:
    return sum(sum(p) for p in parts)


@sy.step
def boom(x: int) -> int:
    print("about to fail")
    raise ValueError(f"boom {x}")


@sy.step(timeout=1.0)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@sy.step
def after(x: object) -> object:
    return x


@sy.step
def maybe_die(path: str) -> str:
    """SIGKILLs its own worker while ``path`` exists."""
    if Path(path).exists():
        os.kill(os.getpid(), signal.SIGKILL)
    return "alive"


@sy.pipeline(name="ray-mix")
def mix(path: str, n: int = 4, width: int = 3, seconds: float = 30.0):
    xs = numbers(n)
    total = add_up([power(xs, k) for k in range(width)])
    after(boom(n))
    after(sleepy(seconds))
    return after([total, maybe_die(path)])


@sy.step
def one(i: int) -> int:
    return i


@sy.step
def gather(values: list[int]) -> int:
    return sum(values)


@sy.pipeline(name="ray-wide")
def wide(width: int = 50):
    return gather([one(i) for i in range(width)])


@sy.step(cpus=64)
def greedy(x: int) -> int:
    return x


@sy.pipeline(name="ray-greedy")
def too_big(x: int = 1):
    return greedy(x)


@sy.step
def settings() -> dict:
    """Where the step's store is, as the Ray worker sees it."""
    return {"home": os.environ.get("SHIPYARD_HOME"), "db": os.environ.get("SHIPYARD_DB_URL")}


@sy.pipeline(name="ray-settings")
def where(x: int = 0):
    return settings()

"""Steps and pipelines the core tests run (a module, so worker processes import it)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd

import shipyard as sy


@sy.step
def numbers(n: int) -> list[int]:
    print(f"making {n} numbers")
    return list(range(n))


@sy.step
def power(xs: list[int], k: int) -> list[int]:
    return [x**k for x in xs]


@sy.step
def add_up(parts: list[list[int]]) -> int:
    return sum(sum(p) for p in parts)


@sy.pipeline(name="fan")
def fan(n: int = 4, width: int = 3):
    xs = numbers(n)
    return add_up([power(xs, k) for k in range(width)])


@sy.step
def table(n: int) -> dict:
    frame = pd.DataFrame({"a": range(n), "b": [str(i) for i in range(n)]})
    return {"frame": frame, "array": np.arange(n, dtype="float64"), "n": n}


@sy.step
def describe(frame: pd.DataFrame, array: np.ndarray, n: int) -> dict:
    return {"rows": len(frame), "sum": float(array.sum()), "n": n, "b0": frame["b"].iloc[0]}


@sy.pipeline(name="kinds")
def kinds(n: int = 5):
    out = table(n)
    return describe(out["frame"], out["array"], out["n"])


def _count(path: str) -> int:
    """How many times this was called for ``path`` (a counter file)."""
    counter = Path(path)
    seen = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(seen + 1))
    return seen + 1


@sy.step(retries=2, retry_delay=0.05)
def flaky(path: str, fails: int) -> str:
    attempt = _count(path)
    if attempt <= fails:
        raise RuntimeError(f"attempt {attempt} fails")
    return f"ok after {attempt}"


@sy.pipeline(name="flaky")
def flaky_pipeline(path: str, fails: int = 1):
    return flaky(path, fails)


@sy.step(timeout=1.0)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@sy.step
def after_sleep(x: float) -> float:
    return x + 1


@sy.step
def quick(x: int) -> int:
    return x * 2


@sy.pipeline(name="timeouts")
def timeouts(seconds: float = 30.0):
    after_sleep(sleepy(seconds))
    return quick(21)


@sy.step
def maybe_die(path: str) -> str:
    if Path(path).exists():
        os.kill(os.getpid(), signal.SIGKILL)
    return "alive"


@sy.step
def first(path: str) -> str:
    _count(path + ".first")
    return "first"


@sy.step
def last(a: str, b: str) -> str:
    return f"{a}+{b}"


@sy.pipeline(name="killed")
def killed(path: str):
    one = first(path)
    return last(one, maybe_die(path))


@sy.step
def boom(x: int) -> int:
    print("about to fail")
    raise ValueError(f"boom {x}")


@sy.step
def generator(x: int):
    return (i for i in range(x))


@sy.step
def downstream(x: object) -> object:
    return x


@sy.pipeline(name="broken")
def broken(x: int = 1):
    return downstream(boom(x))


@sy.pipeline(name="unstorable")
def unstorable(x: int = 3):
    return downstream(generator(x))


@sy.step
def pair(x: int) -> dict:
    return {"a": x}


@sy.pipeline(name="missing-item")
def missing_item(x: int = 1):
    return downstream(pair(x)["nope"])


@sy.step
def stamp(path: str, name: str, seconds: float) -> list[float]:
    start = time.time()
    time.sleep(seconds)
    return [start, time.time()]


@sy.pipeline(name="parallel")
def parallel(path: str, seconds: float = 1.0):
    return [stamp(path, "left", seconds), stamp(path, "right", seconds)]


@sy.step(name="a", after=["b"])
def step_a(x: int) -> int:
    return x


@sy.step(name="b", after=["a"])
def step_b(x: int) -> int:
    return x


@sy.pipeline(name="cycle")
def cycle(x: int = 1):
    step_a(x)
    return step_b(x)


@sy.step
def make_things(path: str) -> object:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    with sy.start_run(experiment="pipeline-steps") as run:
        run.log_metric("rows", 3)
    return sy.datasets.register("step-made", frame)


@sy.pipeline(name="makes")
def makes(path: str = ""):
    return make_things(path)


@sy.step
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@sy.pipeline(name="naps")
def naps(seconds: float = 20.0):
    return [nap(seconds), nap(seconds)]


@sy.step
def hold(path: str, before: str) -> str:
    while Path(path).exists():
        time.sleep(0.05)
    return before + "+held"


@sy.pipeline(name="held")
def held(path: str):
    return hold(path, first(path))


@sy.pipeline(name="on-ray", executor="ray")
def on_ray(n: int = 2):
    return numbers(n)

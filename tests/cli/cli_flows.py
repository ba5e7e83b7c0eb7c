"""Pipelines the CLI tests run by name (a module, so worker processes import its steps)."""

from __future__ import annotations

from pathlib import Path

import shipyard as sy


@sy.step
def numbers(n: int, label: str) -> list[int]:
    print(f"making {n} numbers for {label}")
    return list(range(n))


@sy.step
def power(xs: list[int], k: int) -> list[int]:
    return [x**k for x in xs]


@sy.step
def add_up(parts: list[list[int]]) -> int:
    return sum(sum(p) for p in parts)


@sy.pipeline(name="cli-fan", description="Powers of a few numbers, added up.")
def fan(n: int = 3, label: str = "x", ks: list[int] | None = None):
    xs = numbers(n, label)
    return add_up([power(xs, k) for k in (ks or [1, 2])])


@sy.step
def fragile(path: str) -> str:
    """Fails while ``path`` exists."""
    print("checking", path)
    if Path(path).exists():
        raise RuntimeError(f"{path} is in the way")
    return "fine"


@sy.step
def finish(a: list[int], b: str) -> str:
    return f"{len(a)} numbers, {b}"


@sy.pipeline(name="cli-fragile")
def fragile_pipeline(path: str):
    return finish(numbers(2, "fragile"), fragile(path))

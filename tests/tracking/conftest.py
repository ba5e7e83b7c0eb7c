"""Fixtures for the tracking tests: no run left active between tests, and Python scripts
run in their own interpreter against the store under test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import shipyard as sy


@pytest.fixture(autouse=True)
def _end_leftover_runs() -> Iterator[None]:
    """A run left active by a failing test must not become the parent of the next one."""
    yield
    while (run := sy.active_run()) is not None:
        run.end()


Script = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def script_env() -> Callable[..., dict[str, str]]:
    """The environment of a child process: this test's store settings, plus overrides."""

    def make(**overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(overrides)
        return env

    return make


def write_script(folder: Path, source: str, name: str = "script.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def run_script(tmp_path: Path, script_env: Callable[..., dict[str, str]]) -> Script:
    """Run Python ``source`` in a new interpreter with this test's store; returns the result.

    Keyword arguments become environment variables; ``args`` are passed to the script.
    """

    def run(
        source: str, *args: str, cwd: Path | None = None, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        path = write_script(cwd or tmp_path, source)
        result = subprocess.run(
            [sys.executable, str(path), *args],
            cwd=cwd or tmp_path,
            env=script_env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return run

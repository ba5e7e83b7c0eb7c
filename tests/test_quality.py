"""Lint and architecture checks that CI runs with the tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(reason=f"{name} is not installed (pip install '.[dev]')")
    return found


def test_ruff_is_clean() -> None:
    folders = [d for d in ("src", "tests", "bench", "examples") if (ROOT / d).is_dir()]
    result = subprocess.run(
        [_tool("ruff"), "check", *folders], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    formatted = subprocess.run(
        [_tool("ruff"), "format", "--check", *folders], cwd=ROOT, capture_output=True, text=True
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_layers_point_one_way() -> None:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip(reason="not running from a source checkout")
    result = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_types_check_strictly() -> None:
    if not (ROOT / "src").is_dir():
        pytest.skip(reason="not running from a source checkout")
    result = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_test_file_names_are_unique() -> None:
    # pytest imports test files by basename (no __init__.py): two alike break collection.
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []

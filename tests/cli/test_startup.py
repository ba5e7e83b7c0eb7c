"""The CLI starts fast: ``--help`` and the listings import no heavy library they do not use.

A behaviour test, not a timing test: each command runs in a fresh interpreter under
``python -X importtime`` and the modules it imported are read from that report. Capability
packages export lazily (``shipyard._lazy``) and the commands import what they call, so
listing experiments loads SQLAlchemy and the store, not pandas, scikit-learn or FastAPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard

# what no start-up needs: data frames, model libraries, the web stack, charts, SQL engines
HEAVY = {
    "duckdb",
    "fastapi",
    "lightgbm",
    "onnx",
    "onnxruntime",
    "optuna",
    "pandas",
    "plotly",
    "pyarrow",
    "scipy",
    "skl2onnx",
    "sklearn",
    "starlette",
    "torch",
    "uvicorn",
    "xgboost",
}
RUN = "import sys; from shipyard.cli import main; sys.argv = ['shipyard', *sys.argv[1:]]; main()"


def imported(*args: str) -> set[str]:
    """The top-level packages ``shipyard <args>`` imports, in a fresh interpreter."""
    src = str(Path(shipyard.__file__).parents[1])  # this checkout's code, installed or not
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", RUN, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, "no -X importtime report"
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines[1:]}


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store ``shipyard db upgrade`` made, as a first command does, once per module."""
    home = tmp_path_factory.mktemp("startup") / "shipyard-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(home))
        for var in ("DB_URL", "ARTIFACTS_URL", "CONFIG", "URL", "TOKEN"):
            patch.delenv(f"SHIPYARD_{var}", raising=False)
        imported("db", "upgrade")
    assert (home / "shipyard.db").is_file()
    return home


@pytest.fixture
def store(home: Path, upgraded: Path) -> Path:
    """A store that exists (a listing of a folder with none returns before opening one): a
    copy of the module's upgraded one."""
    shutil.copytree(upgraded, home)
    return home


def test_the_import_report_is_read(store: Path) -> None:
    # the check sees what a command does import
    assert "pandas" in imported("runs", "list")  # its rows come as a DataFrame


def test_help_imports_no_heavy_library(home: Path) -> None:
    found = imported("--help")
    assert found & (HEAVY | {"numpy", "sqlalchemy"}) == set()


@pytest.mark.parametrize(
    "listing",
    [
        "experiments list",
        "data list",
        "pipelines list",
        "deployments list",
        "models list",
        "monitors list",
        "alerts list",
    ],
)
def test_a_listing_imports_the_store_and_no_heavy_library(store: Path, listing: str) -> None:
    # the store exists, as it does after a first command (``store``: ``shipyard db upgrade``)
    found = imported(*listing.split())
    assert "sqlalchemy" in found
    assert found & HEAVY == set(), f"shipyard {listing} imports {sorted(found & HEAVY)}"

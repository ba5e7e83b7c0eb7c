"""``shipyard pipelines`` in remote mode: ``show`` gives what it gives locally (the versions
read from the server), and ``run`` queues the run on the server for its scheduler, as the
README says, instead of refusing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import shipyard as sy
from shipyard import pipelines
from shipyard.cli import app
from shipyard.config import reset_settings
from shipyard.testing.servers import platform_server


@sy.step
def double(n: int) -> int:
    return 2 * n


@sy.pipeline(name="tiny")
def first(n: int = 2):  # type: ignore[no-untyped-def]
    return double(n)


@sy.pipeline(name="tiny")
def second(n: int = 3):  # type: ignore[no-untyped-def]
    return double(double(n))


def _register_two_versions() -> None:
    assert pipelines.register(first).version == 1
    assert pipelines.register(second).version == 2


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "160"})


def test_show_and_run_through_the_server(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _register_two_versions()
    local = invoke("pipelines", "show", "tiny")
    assert local.exit_code == 0, local.output
    with platform_server(home, pythonpath=[str(Path(__file__).parent)]) as url:
        monkeypatch.setenv("SHIPYARD_URL", url)
        reset_settings()
        assert [v.version for v in pipelines.versions("tiny")] == [2, 1]
        shown = invoke("pipelines", "show", "tiny")
        assert shown.exit_code == 0, shown.output
        assert shown.output == local.output

        queued = invoke("pipelines", "run", "tiny", "--param", "n=5")
        assert queued.exit_code == 0, queued.output
        assert queued.output.startswith("Queued run ") and url in queued.output
        (run,) = pipelines.list_runs("tiny")
        assert run.status == "queued" and run.params["n"] == 5 and run.id in queued.output

        refused = invoke("pipelines", "run", "tiny", "--workers", "2", "--no-cache")
        assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
        assert "--workers, --no-cache" in refused.output and "SHIPYARD_URL" in refused.output
        assert len(pipelines.list_runs("tiny")) == 1  # refused before anything was queued

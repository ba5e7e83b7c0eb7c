"""``--json`` writes times as ISO 8601 in UTC, and leaves the user's own data alone."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.data import make_loans

ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$"


def as_json(*args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_iso(text: str, epoch: float | None) -> None:
    assert epoch is not None and text.endswith("+00:00"), text
    assert datetime.fromisoformat(text).timestamp() == pytest.approx(epoch, abs=1e-6)


def test_times_are_iso_8601_in_utc(home: Path) -> None:
    version = sy.datasets.register("loans", make_loans(200, seed=1))
    with sy.start_run(experiment="times") as run:
        sy.log_metrics({"auc": 0.8})
    stored = sy.get_run(run.id).info

    assert_iso(as_json("data", "versions", "loans")[0]["created_at"], version.created_at)
    assert_iso(as_json("data", "show", "loans@1")["created_at"], version.created_at)
    assert re.match(ISO_UTC, as_json("data", "list")[0]["created_at"])
    shown = as_json("runs", "show", run.id)
    assert_iso(shown["start_time"], stored.start_time)
    assert_iso(shown["end_time"], stored.end_time)
    listed = as_json("runs", "list")["runs"][0]
    assert_iso(listed["start_time"], stored.start_time)
    assert isinstance(listed["metrics.auc"], float)
    assert re.match(ISO_UTC, as_json("experiments", "list")[0]["created_at"])


def test_query_rows_keep_the_users_columns(home: Path) -> None:
    sy.datasets.register("events", pd.DataFrame({"paid_at": [1_700_000_000, 1_700_000_060]}))
    rows = as_json("data", "query", "SELECT paid_at FROM events@1")
    assert rows == [{"paid_at": 1_700_000_000}, {"paid_at": 1_700_000_060}]

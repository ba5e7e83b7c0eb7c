"""Alerts in remote mode are the local ones: their deliveries' times and their evidence's
window come back as epoch seconds (the server sends ISO 8601), so the SDK gives equal
values and ``shipyard alerts show`` prints them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard import monitoring
from shipyard.cli import app
from shipyard.config import reset_settings
from shipyard.data import make_loans
from shipyard.testing.servers import platform_server


def test_an_alert_with_deliveries_is_the_same_through_the_server(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sy.datasets.register("applications", make_loans(600, seed=0))
    monitoring.create_monitor(
        "drift", dataset="applications", reference="applications@1",
        detectors=["data_drift"], drift_share=0.1, channels=["log"],
    )  # fmt: skip
    moved = make_loans(600, seed=1)
    moved["income"] = moved["income"] * 1.8
    sy.datasets.register("applications", moved)
    assert monitoring.check("drift").status == "alert"
    (local,) = monitoring.list_alerts()
    assert local.deliveries and isinstance(local.deliveries[0]["at"], float)
    local_shown = CliRunner().invoke(app, ["alerts", "show", str(local.id)])
    assert local_shown.exit_code == 0, local_shown.output

    with platform_server(home) as url:
        monkeypatch.setenv("SHIPYARD_URL", url)
        reset_settings()
        remote = monitoring.get_alert(local.id)
        assert [type(d["at"]) for d in remote.deliveries] == [float] * len(local.deliveries)
        for theirs, ours in zip(remote.deliveries, local.deliveries, strict=True):
            assert theirs == {**ours, "at": pytest.approx(ours["at"], abs=1e-6)}
        assert remote.evidence.keys() == local.evidence.keys()
        assert monitoring.list_alerts()[0].deliveries == remote.deliveries
        shown = CliRunner().invoke(app, ["alerts", "show", str(local.id)])
    assert shown.exit_code == 0, shown.output
    assert shown.output == local_shown.output

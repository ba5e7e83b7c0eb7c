"""Every detector of the table passes the detector contract (shipyard.testing.detectors)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shipyard.monitoring import DETECTOR_TABLE, Detector
from shipyard.testing.detectors import CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("entry", list(DETECTOR_TABLE.values()), ids=list(DETECTOR_TABLE))
def test_every_detector_passes_the_contract(
    entry: Detector, check: Callable[[Detector], None]
) -> None:
    check(entry)


def test_the_contract_refuses_a_detector_on_a_target_it_cannot_watch() -> None:
    from shipyard.testing.detectors import check_entry

    def run(monitor: object, windows: object, log_dir: object) -> None:
        return None

    with pytest.raises(AssertionError):
        check_entry(Detector("bad", run, targets=("dataset",), default_for=("deployment",)))
    check_entry(Detector("latency", run, targets=("deployment",)))  # a plugin's, not listed

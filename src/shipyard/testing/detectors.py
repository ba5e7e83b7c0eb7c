"""The contract of a monitor detector: the checks every entry of the detector table passes.

A new detector (one :class:`~shipyard.monitoring.Detector` in
``shipyard.monitoring._detectors.DETECTOR_TABLE``) is checked by
``tests/monitoring/test_detectors_contract.py`` without a line of test code: its entry is
well formed, monitors accept it where it says it works and refuse it elsewhere, and a
monitor's defaults are what the entries say. What it finds on real traffic is for its own
tests (``tests/monitoring/test_monitors.py`` runs every detector on a served model).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from shipyard.errors import InvalidInput
from shipyard.monitoring._detector import CHARTS, TARGETS, Detector
from shipyard.monitoring._detectors import DETECTOR_TABLE
from shipyard.monitoring._monitors import DEFAULT_DETECTORS, resolve_detectors

__all__ = ["CHECKS", "check_detector"]


def check_entry(entry: Detector) -> None:
    """Its name is its key (or free, for a plugin's entry not yet in the table), its fields
    have their types and values, and ``run`` takes (monitor, windows, log_dir)."""
    assert DETECTOR_TABLE.get(entry.name, entry) is entry, f"{entry.name}: name taken"
    assert entry.name.isidentifier() and entry.name == entry.name.lower(), entry.name
    assert entry.targets and set(entry.targets) <= set(TARGETS), entry.targets
    assert set(entry.default_for) <= set(entry.targets), f"{entry.name}: default where unfit"
    assert entry.charts in CHARTS, entry.charts
    assert all(isinstance(s, str) and s for s in entry.over_time), entry.over_time
    assert len(inspect.signature(entry.run).parameters) == 3, f"{entry.name}: run's arguments"


def check_targets(entry: Detector) -> None:
    """Monitors take the detector on the targets it names and refuse it, in one line naming
    the field, on the others."""
    if entry.name not in DETECTOR_TABLE:
        return  # validation reads the table: a plugin's entry is checked once it is added
    for target in TARGETS:
        if target in entry.targets:
            assert resolve_detectors(target, [entry.name]) == (entry.name,)
        else:
            try:
                resolve_detectors(target, [entry.name])
            except InvalidInput as exc:
                assert str(exc).startswith("detectors:") and "\n" not in str(exc)
            else:
                raise AssertionError(f"{entry.name} accepted on a {target} monitor")


def check_defaults(entry: Detector) -> None:
    """A monitor given no detectors runs this one exactly where it says so."""
    for target in TARGETS:
        if entry.name in DETECTOR_TABLE:
            assert (entry.name in DEFAULT_DETECTORS[target]) == (target in entry.default_for)


CHECKS: tuple[Callable[[Detector], None], ...] = (check_entry, check_targets, check_defaults)


def check_detector(entry: Detector) -> None:
    """Run every check of the contract on ``entry``."""
    for check in CHECKS:
        check(entry)

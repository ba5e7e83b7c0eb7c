"""A version that failed its checks under the ``warn`` policy (issue 18): it is kept and
flagged, a bare name keeps resolving to the newest version that passed, ``@latest`` still
names the newest (with a warning), one warning line says so at registration, and
``accept`` makes it eligible again."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import InvalidInput, NotFound


@pytest.fixture
def loans() -> pd.DataFrame:
    return make_loans(300, seed=1)


def broken(loans: pd.DataFrame) -> pd.DataFrame:
    """The loans with a wrong column: ``income`` renamed."""
    return loans.rename(columns={"income": "salary"})


def test_a_failed_version_is_kept_but_not_the_default(backend, loans, caplog):
    v1 = sy.datasets.register("loans", loans)
    with caplog.at_level(logging.WARNING, logger="shipyard.data"):
        v2 = sy.datasets.register("loans", broken(loans))
    assert (v2.version, v2.flagged, v2.checks) == (2, True, "failed")
    assert (v1.flagged, v1.checks) == (False, "passed")
    warnings = [r.getMessage() for r in caplog.records if r.name == "shipyard.data"]
    assert len(warnings) == 1 and "\n" not in warnings[0]  # once, on one line
    assert warnings[0].startswith("loans@2 failed its checks (")
    assert "'loans' still resolves to loans@1" in warnings[0]
    assert "shipyard data accept loans@2" in warnings[0]
    assert warnings[0] == v2.check_warning()

    assert sy.datasets.get("loans").id == v1.id  # the default skips the flagged version
    assert sy.datasets.resolve("loans").id == v1.id
    assert sy.datasets.get("loans@2").id == v2.id  # a number names it, quietly
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="shipyard.data"):
        assert sy.datasets.get("loans@latest").id == v2.id  # literally the newest
        assert sy.datasets.resolve("loans@latest").id == v2.id  # said once per process
    (said,) = [r.getMessage() for r in caplog.records]
    assert "loans@latest is loans@2, which failed its checks" in said
    assert [v.checks for v in sy.datasets.versions("loans")] == ["failed", "passed"]


def test_a_wrong_type_flags_the_version(backend, loans):
    sy.datasets.register("loans", loans)
    v2 = sy.datasets.register("loans", loans.astype({"age": str}))
    assert v2.flagged and "Column 'age'" in (v2.check_warning() or "")
    assert sy.datasets.get("loans").version == 1


def test_drift_warns_in_one_line_and_stays_the_default(backend, loans, caplog):
    """Values outside the first month's ranges are drift a new month is expected to show
    (retraining reads it by name): reported, not flagged."""
    sy.datasets.register("loans", loans)
    sy.datasets.register("loans", broken(loans))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="shipyard.data"):
        v3 = sy.datasets.register("loans", make_loans(300, seed=2, drift=0.5))
    assert (v3.checks, v3.flagged) == ("warnings", False)
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("loans@3 has values outside its dataset's schema (Column ")
    assert said.endswith("; kept.") and "\n" not in said
    assert sy.datasets.get("loans").version == 3


def test_accept_makes_a_flagged_version_the_default(backend, loans):
    sy.datasets.register("loans", loans)
    sy.datasets.register("loans", broken(loans))
    accepted = sy.datasets.accept("loans@2")
    assert (accepted.checks, accepted.flagged, accepted.check_warning()) == (
        "accepted",
        False,
        None,
    )
    assert accepted.validation is not None and accepted.validation["failures"]  # report kept
    assert sy.datasets.get("loans").version == 2
    assert sy.datasets.accept("loans@1").checks == "passed"  # nothing to accept: unchanged


def test_when_every_version_is_flagged_a_bare_name_says_what_to_do(backend, loans):
    def never(frame: pd.DataFrame) -> bool:
        return False

    v1 = sy.datasets.register("loans", loans, checks={"never": (None, never)})
    assert v1.flagged
    assert "'loans' resolves to no version until one passes" in (v1.check_warning() or "")
    with pytest.raises(NotFound, match=r"no version that passed its checks .*loans@1"):
        sy.datasets.get("loans")
    assert sy.datasets.get("loans@1").id == v1.id


def test_the_reject_policy_still_stores_nothing(backend, loans):
    sy.datasets.register("loans", loans)
    with pytest.raises(InvalidInput, match="rejected by its schema"):
        sy.datasets.register("loans", broken(loans), policy="reject")
    assert [v.version for v in sy.datasets.versions("loans")] == [1]

"""Every evidence store passes the contract (``shipyard.testing.evidence``): in-process,
Redis, and the metadata store on SQLite and PostgreSQL; the settings pick the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import InvalidInput
from shipyard.serving._evidence import EvidenceStore, InProcessEvidence
from shipyard.serving._evidence_backends import open_evidence
from shipyard.serving._evidence_redis import RedisEvidence
from shipyard.serving._evidence_sql import SqlEvidence
from shipyard.store import default_database
from shipyard.testing.evidence import CHECKS


@pytest.fixture(params=["in-process", "redis", "sqlite", "postgres"])
def evidence(request: pytest.FixtureRequest) -> Iterator[EvidenceStore]:
    store: EvidenceStore
    if request.param == "in-process":
        store = InProcessEvidence()
    elif request.param == "redis":
        store = RedisEvidence(request.getfixturevalue("redis_url"), ticket_ttl=600)
    else:
        request.getfixturevalue("home")
        if request.param == "postgres":
            request.getfixturevalue("backend_postgres")
        store = SqlEvidence(default_database())
    yield store
    store.close()


@pytest.fixture
def backend_postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.config import reset_settings

    monkeypatch.setenv("SHIPYARD_DB_URL", request.getfixturevalue("postgres_url"))
    reset_settings()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_evidence_contract(evidence: EvidenceStore, check: Callable[[Any], None]) -> None:
    check(evidence)


def test_the_settings_pick_the_store(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.config import get_settings, reset_settings

    monkeypatch.delenv("SHIPYARD_REDIS_URL", raising=False)
    reset_settings()
    assert isinstance(open_evidence(default_database()), SqlEvidence)
    assert isinstance(open_evidence(None), InProcessEvidence)
    monkeypatch.setenv("SHIPYARD_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("SHIPYARD_EVIDENCE_SYNC", "0.5")
    reset_settings()
    picked = open_evidence(default_database())  # connects on first use only
    assert isinstance(picked, RedisEvidence) and picked.url == "redis://127.0.0.1:6379/3"
    assert get_settings().evidence_sync == 0.5
    monkeypatch.setenv("SHIPYARD_EVIDENCE_SYNC", "0")
    reset_settings()
    with pytest.raises(InvalidInput, match="evidence_sync"):
        get_settings()

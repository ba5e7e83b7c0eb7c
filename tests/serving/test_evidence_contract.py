"""Every evidence store passes the contract (``shipyard.testing.evidence``): in-process,
Redis, and the metadata store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shipyard.serving._evidence import EvidenceStore, InProcessEvidence
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

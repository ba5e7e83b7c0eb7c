"""Which evidence store the settings pick: Redis, the metadata store, or this process."""

from __future__ import annotations

from shipyard.config import get_settings
from shipyard.serving._evidence import EvidenceStore, InProcessEvidence
from shipyard.store import Database

__all__ = ["open_evidence"]


def open_evidence(database: Database | None, redis_url: str | None = None) -> EvidenceStore:
    """The evidence store of the settings: Redis when ``redis_url`` (default: the setting
    ``SHIPYARD_REDIS_URL``) is set, else the metadata store ``database``, else (neither)
    this process only."""
    redis_url = redis_url or get_settings().redis_url
    if redis_url:
        from shipyard.serving._evidence_redis import RedisEvidence

        return RedisEvidence(redis_url)
    if database is not None:
        from shipyard.serving._evidence_sql import SqlEvidence

        return SqlEvidence(database)
    return InProcessEvidence()

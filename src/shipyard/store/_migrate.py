"""Schema migrations with Alembic: applied on first use and by ``shipyard db upgrade``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError

from shipyard._version import __version__
from shipyard.errors import ShipyardError, StoreVersionError

__all__ = ["HEAD_REVISION", "SchemaState", "current_revision", "ensure_schema", "upgrade"]

#: The newest migration this code ships; a test pins it to Alembic's head so the fast path
#: (one query on start-up, no Alembic import) cannot drift from the scripts.
HEAD_REVISION = "0011"
MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x5348_4950  # advisory lock id held while migrating PostgreSQL ("SHIP")


@dataclass(frozen=True)
class SchemaState:
    """Where a store's schema stood before and after an upgrade."""

    before: str | None
    after: str


def table_exists(conn: Connection, name: str) -> bool:
    """Whether ``name`` exists in the connected database."""
    try:
        return inspect(conn).has_table(name)
    except OperationalError as exc:  # pragma: no cover - unreachable database
        raise ShipyardError(f"Cannot reach the metadata store: {exc}") from exc


def current_revision(conn: Connection) -> str | None:
    """The store's Alembic revision, or None for an empty database."""
    if not table_exists(conn, "alembic_version"):
        return None
    value = conn.execute(text("select version_num from alembic_version")).scalar()
    return None if value is None else str(value)


def ensure_schema(engine: Engine, url: str) -> None:
    """Bring an empty or older store up to date; refuse one written by newer code."""
    with engine.connect() as conn, conn.begin():
        revision = current_revision(conn)
    if revision != HEAD_REVISION:
        upgrade(engine, url)


def upgrade(engine: Engine, url: str) -> SchemaState:
    """Apply every pending migration in one transaction, under a lock across processes."""
    from alembic import command
    from alembic.config import Config

    with engine.connect() as conn:
        conn = conn.execution_options(shipyard_immediate=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("select pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            before = current_revision(conn)
            _check_known(before, url)
            if before != HEAD_REVISION:
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    return SchemaState(before=before, after=HEAD_REVISION)


def known_revisions() -> set[str]:
    """Every revision id among the shipped migration scripts."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS))
    return {script.revision for script in scripts.walk_revisions()}


def _check_known(revision: str | None, url: str) -> None:
    if revision is None or revision in known_revisions():
        return
    raise StoreVersionError(
        f"The metadata store at {_redact(url)} is at schema revision {revision!r}, which "
        f"Shipyard {__version__} does not know (newest known: {HEAD_REVISION!r}). It was "
        "written by a newer Shipyard; nothing was changed. Upgrade: pip install -U shipyard"
    )


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url

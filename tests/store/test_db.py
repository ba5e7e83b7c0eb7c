"""The metadata store: URLs, SQLite set-up, and Alembic migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import shipyard as sy
import shipyard.monitoring  # each capability registers its tables when imported
import shipyard.pipelines
import shipyard.server
import shipyard.serving
from shipyard.config import reset_settings
from shipyard.errors import InvalidInput, StoreVersionError
from shipyard.store import HEAD_REVISION, Base, Database, SchemaState, current_revision, upgrade
from shipyard.store._migrate import MIGRATIONS
from shipyard.testing.backends import load_tables

TABLES = set(Base.metadata.tables)


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of an empty database (never migrated) on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    session_url = make_url(request.getfixturevalue("postgres_url"))
    name = f"shipyard_fresh_{uuid.uuid4().hex[:12]}"
    admin = create_engine(session_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield session_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def snapshot(url: str) -> dict[str, object]:
    """Tables, the Alembic revision and every table's row count, read without Shipyard."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sorted(inspect(conn).get_table_names())
            counts = {t: conn.execute(text(f"select count(*) from {t}")).scalar() for t in tables}
            revision = conn.execute(text("select version_num from alembic_version")).all()
    finally:
        engine.dispose()
    return {"tables": tables, "counts": counts, "revision": revision}


def test_schema_is_migrated_on_first_use(fresh_url):
    db = Database(fresh_url)
    raw = create_engine(fresh_url)
    try:
        with raw.connect() as conn:
            assert inspect(conn).get_table_names() == []
        with db.read() as conn:  # first use
            assert current_revision(conn) == HEAD_REVISION
            assert set(inspect(conn).get_table_names()) >= TABLES
            assert conn.scalar(text("select count(*) from runs")) == 0
    finally:
        db.dispose()
        raw.dispose()


def test_upgrade_is_idempotent_and_keeps_data(fresh_url):
    db = Database(fresh_url, migrate=False)
    try:
        assert upgrade(db.engine, fresh_url) == SchemaState(before=None, after=HEAD_REVISION)
        with db.write() as conn:
            conn.execute(
                text("insert into experiments (id, name, created_at) values ('e1', 'kept', 1.0)")
            )
        first = snapshot(fresh_url)
        assert upgrade(db.engine, fresh_url) == SchemaState(HEAD_REVISION, HEAD_REVISION)
        assert upgrade(db.engine, fresh_url) == SchemaState(HEAD_REVISION, HEAD_REVISION)
        assert snapshot(fresh_url) == first
        assert first["revision"] == [(HEAD_REVISION,)]
        assert first["counts"]["experiments"] == 1
    finally:
        db.dispose()


def test_store_newer_than_the_code_is_refused_and_left_untouched(fresh_url):
    db = Database(fresh_url)
    with db.write() as conn:
        conn.execute(text("insert into experiments (id, name, created_at) values ('e1', 'x', 1.0)"))
        conn.execute(text("update alembic_version set version_num = 'f00dcafe'"))
    db.dispose()
    before = snapshot(fresh_url)

    newer = Database(fresh_url)
    with pytest.raises(StoreVersionError) as info:
        _ = newer.engine
    message = str(info.value)
    del info, newer
    gc.collect()  # a connection leaked by the refusal would warn (an error) here
    assert "'f00dcafe'" in message
    assert repr(HEAD_REVISION) in message
    assert "newer" in message and "nothing was changed" in message
    assert "pip install -U shipyard" in message

    # The explicit upgrade (``shipyard db upgrade``) refuses as well.
    manual = Database(fresh_url, migrate=False)
    try:
        with pytest.raises(StoreVersionError):
            upgrade(manual.engine, fresh_url)
    finally:
        manual.dispose()
    assert snapshot(fresh_url) == before


def test_head_revision_is_alembics_head():
    scripts = ScriptDirectory(str(MIGRATIONS))
    assert scripts.get_heads() == [HEAD_REVISION]
    assert scripts.get_current_head() == HEAD_REVISION


def test_models_and_migrations_agree(fresh_url):
    db = Database(fresh_url)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, load_tables()) == []
    finally:
        db.dispose()


def test_transaction_rolls_back_on_error(backend):
    from shipyard.store import default_database

    db = default_database()
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute(text("insert into experiments (id, name, created_at) values ('e', 'e', 1)"))
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.scalar(text("select count(*) from experiments")) == 0


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'shipyard.db'}")
    try:
        # Two connections at once: the pragmas hold for every connection, not only the first.
        with db.read() as one, db.read() as two:
            for conn in (one, two):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5_000
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()
    assert (tmp_path / "nested" / "dir" / "shipyard.db").is_file()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a database url", "'not a database url' is not a database URL"),
        ("mysql://user@localhost/shipyard", "scheme 'mysql' is not supported"),
        ("redis://localhost:6379/0", "scheme 'redis' is not supported"),
    ],
)
def test_bad_db_url_names_what_is_expected(home, monkeypatch, url, says):
    monkeypatch.setenv("SHIPYARD_DB_URL", url)
    reset_settings()
    with pytest.raises(InvalidInput) as info:
        sy.list_experiments()
    message = str(info.value)
    assert message.startswith("SHIPYARD_DB_URL")
    assert says in message
    for expected in ("sqlite:///", "postgresql+psycopg://", "memory://"):
        assert expected in message


def test_memory_url_is_a_private_in_process_store():
    one, two = Database("memory://"), Database("memory://")
    try:
        assert one.dialect == "sqlite"
        with one.write() as conn:
            conn.execute(
                text("insert into experiments (id, name, created_at) values ('e', 'e', 1)")
            )
        with one.read() as conn:
            assert current_revision(conn) == HEAD_REVISION
            assert conn.scalar(text("select count(*) from experiments")) == 1
        with two.read() as conn:
            assert conn.scalar(text("select count(*) from experiments")) == 0
    finally:
        one.dispose()
        two.dispose()


def test_text_with_a_nul_character_is_refused_before_the_database(backend: str) -> None:
    """PostgreSQL cannot store a NUL character (a raw DataError) and SQLite cuts text at it:
    every statement refuses one as bad input instead, naming the field where it can."""
    from shipyard import monitoring

    with pytest.raises(InvalidInput, match=r"text may not contain NUL characters"):
        monitoring.get_monitor("a\x00b")
    with pytest.raises(InvalidInput, match=r"text may not contain NUL characters"):
        sy.search_runs("exp\x00eriment")
    assert monitoring.list_monitors() == []  # the store still answers

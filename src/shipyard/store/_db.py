"""The metadata database: engine set-up per backend, transactions, schema check on first use."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from shipyard.errors import InvalidInput, ShipyardError

__all__ = ["Database"]

_KNOWN_SCHEMES = ("sqlite:///<path>", "postgresql+psycopg://user@host/db", "memory://")
_BUSY_TIMEOUT_MS = 30_000


class Database:
    """A metadata database picked by URL; connects and migrates lazily on first use.

    ``sqlite:///path`` (embedded default: WAL, busy timeout, write transactions take the
    write lock up front), ``postgresql+psycopg://...`` (production) or ``memory://`` (an
    in-process SQLite database for tests and notebooks). Thread-safe.

    Example:
        >>> db = Database("memory://")
        >>> with db.read() as conn:
        ...     conn.scalar(text("select count(*) from runs"))
        0
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.migrate = migrate
        self._engine: Engine | None = None
        self._lock = threading.RLock()
        # An in-memory database is one connection that every thread shares (set from the
        # URL here, so that even the first concurrent uses are serialized).
        self._single_connection = url.startswith("memory://")
        _instances.add(self)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created (and the schema brought up to date) on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    engine = self._create_engine()
                    if self.migrate:
                        from shipyard.store._migrate import ensure_schema

                        try:
                            ensure_schema(engine, self.url)
                        except BaseException:
                            engine.dispose()  # close its connections: no leak on refusal
                            raise
                    self._engine = engine
        return self._engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write; commits on success, rolls back on error.

        On SQLite it starts with ``BEGIN IMMEDIATE`` so concurrent writers wait for the lock
        (busy timeout) instead of failing when a read turns into a write.
        """
        with self._guard(), self._connect() as conn:
            conn = conn.execution_options(shipyard_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both backends)."""
        with self._guard(), self._connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def _connect(self) -> Connection:
        """A connection, or a :class:`ShipyardError` naming the store when it is unreachable."""
        try:
            return self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            raise ShipyardError(
                f"Cannot reach the metadata store at {_redact(self.url)}: {exc.orig}. Check "
                "SHIPYARD_DB_URL and that the database server is running."
            ) from exc

    def _after_fork(self) -> None:
        # Pooled connections belong to the parent: forget them without closing them.
        if self._engine is not None:
            self._engine.dispose(close=False)

    def dispose(self) -> None:
        """Close every pooled connection (after a fork, or when done)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    @contextmanager
    def _guard(self) -> Iterator[None]:
        # An in-memory database is one connection shared by every thread: serialize use.
        if self._single_connection:
            with self._lock:
                yield
        else:
            yield

    def _create_engine(self) -> Engine:
        if self._single_connection:
            engine = create_engine(
                "sqlite://",
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite(engine, wal=False)
            _refuse_nul(engine)
            return engine
        try:
            url = make_url(self.url)
        except ArgumentError as exc:
            raise InvalidInput(
                f"SHIPYARD_DB_URL {self.url!r} is not a database URL; expected one of "
                f"{', '.join(_KNOWN_SCHEMES)}."
            ) from exc
        backend = url.get_backend_name()
        if backend == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine, wal=True)
            _refuse_nul(engine)
            return engine
        if backend == "postgresql":
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            try:
                engine = create_engine(url, pool_pre_ping=True)
                _refuse_nul(engine)
                return engine
            except ModuleNotFoundError as exc:
                raise ShipyardError(
                    "PostgreSQL needs psycopg 3: pip install 'shipyard[postgres]'."
                ) from exc
        raise InvalidInput(
            f"SHIPYARD_DB_URL scheme {url.drivername!r} is not supported; expected one of "
            f"{', '.join(_KNOWN_SCHEMES)}."
        )

    def __repr__(self) -> str:
        return f"Database({self.url!r})"


_instances: weakref.WeakSet[Database] = weakref.WeakSet()


def _forget_pools_after_fork() -> None:
    for db in list(_instances):
        db._after_fork()


os.register_at_fork(after_in_child=_forget_pools_after_fork)


def _enable_wal(cursor: Any) -> None:
    """Switch a database file to WAL once (the mode persists in the file).

    Switching needs an exclusive lock and SQLite does not wait for it through the busy
    handler, so processes racing to open a new store retry for up to the busy timeout.
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """Pragmas per connection, and manual transaction control (pysqlite's is broken)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        if wal:
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")  # LIKE as on PostgreSQL
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("shipyard_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _refuse_nul(engine: Engine) -> None:
    """Refuse text holding a NUL character before it reaches the database (PostgreSQL
    cannot store one and SQLite cuts text at it), as bad input naming the field where the
    statement names it, whichever capability sent it (a name looked up, a filter, a row
    written one at a time)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _check(_conn: Any, _cursor: Any, _sql: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if many:  # bulk writes (metrics, evidence) carry values checked where they entered;
            return  # scanning every one would tax the hot paths
        todo: list[tuple[object, Any]] = [("", parameters)]
        while todo:
            key, value = todo.pop()
            if isinstance(value, str):
                if "\x00" in value:
                    field = re.sub(r"_\d+$", "", str(key)) or "a text value"
                    raise InvalidInput(
                        f"{field}: text may not contain NUL characters (\\x00); got {value[:40]!r}."
                    )
            elif isinstance(value, Mapping):
                todo.extend(value.items())
            elif isinstance(value, (list, tuple)):
                todo.extend((key, item) for item in value)


def ping(conn: Connection) -> None:
    """One round trip, to check a connection works."""
    conn.execute(text("select 1"))


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url

"""Shared fixtures: an isolated SHIPYARD_HOME per test, and the store on every backend.

PostgreSQL: a fresh database per test session on 127.0.0.1:5432 (user postgres, trust
auth), dropped afterwards. Tests that need it skip when it is absent, and fail instead when
SHIPYARD_REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

import os
import socket

# One OpenMP/BLAS thread per test process (set before NumPy or scikit-learn load): on two
# cores, OpenMP threads spinning against the rest of the suite made small fits ~50x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from shipyard.config import reset_settings
from shipyard.testing.servers import Background, PlatformServer

# CI runs the property tests with a fixed seed: a red build then means a real regression,
# and new examples are explored on developers' machines instead.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

PG_ADMIN_URL = os.environ.get(
    "SHIPYARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("SHIPYARD_REQUIRE_SERVICES") == "1"
REDIS_URL = os.environ.get("SHIPYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_missing(reason: str) -> None:
    """Skip, or fail when services are required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SHIPYARD_REQUIRE_SERVICES=1)")
    pytest.skip(reason=reason)


@pytest.fixture
def redis_url() -> str:
    """The test Redis server's URL (skips, or fails with SHIPYARD_REQUIRE_SERVICES=1, when
    Redis or the redis package is missing)."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        service_missing(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session."""
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        service_missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
        raise AssertionError("unreachable") from exc
    name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# The quick start at a third of its default size: the same names, a third of the time.
QUICKSTART_ARGS = ("--rows", "3000", "--automl-budget", "3")

# The session's quick start, started as soon as the tests are collected when one of them
# needs it (``Background``: beside the tests before that one, at a lower priority), instead
# of holding up the first that needs it; its folder is removed when the session ends.
_early: dict[str, tuple[Path, Background]] = {}


def _quickstart(root: Path) -> Background:
    """``shipyard quickstart`` (:data:`QUICKSTART_ARGS`) in a child process over a fresh store
    in ``root``, its output (160 columns wide) written to ``root/quickstart.txt``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_HOME=str(root / ".shipyard"), COLUMNS="160")
    command = [sys.executable, "-m", "shipyard.cli", "quickstart", *QUICKSTART_ARGS]
    return Background(command, cwd=root, env=env, output=root / "quickstart.txt")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts the session's quick start early when a collected test needs it."""
    if session.config.option.collectonly or "quickstart" in _early:
        return
    if any("quickstart_store" in getattr(item, "fixturenames", ()) for item in session.items):
        root = Path(tempfile.mkdtemp(prefix="shipyard-quickstart-"))
        _early["quickstart"] = (root, _quickstart(root))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stops the quick start when no test waited for it; removes its folder."""
    for root, command in _early.values():
        command.stop()
        shutil.rmtree(root, ignore_errors=True)
    _early.clear()


@pytest.fixture(scope="session")
def quickstart_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``shipyard quickstart`` (:data:`QUICKSTART_ARGS`), run once per session in a child
    process over a fresh store (started when the tests were collected): the store's home and
    what the command printed (stdout and stderr, interleaved, 160 columns wide). Never write
    to that home: copy it (``shutil.copytree``; the store holds no absolute paths, so a copy
    is a store of its own)."""
    if "quickstart" in _early:
        root, command = _early["quickstart"]
    else:
        root = tmp_path_factory.mktemp("quickstart")
        command = _quickstart(root)
    code, output = command.wait(timeout=600)
    assert code == 0, output[-6000:]
    return root / ".shipyard", output


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another server listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty SHIPYARD_HOME (SQLite store, local artifacts) for one test."""
    root = tmp_path / "shipyard-home"
    monkeypatch.setenv("SHIPYARD_HOME", str(root))
    for var in (
        "SHIPYARD_DB_URL",
        "SHIPYARD_ARTIFACTS_URL",
        "SHIPYARD_CONFIG",
        "SHIPYARD_URL",
        "SHIPYARD_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    yield root
    reset_settings()


SERVED = {"platform_server", "remote", "mode"}
"""The fixtures that start a module's platform server (``mode`` through ``remote``)."""


class _Servers:
    """The platform servers of the modules that use one, each started while the module
    before it runs (one spare ahead): every module still gets a server of its own over a
    fresh store, without waiting for its start-up."""

    def __init__(self, factory: pytest.TempPathFactory, modules: set[str]) -> None:
        self.factory = factory
        self.modules = modules  # those still to come
        self.spare: PlatformServer | None = None

    def _start(self) -> PlatformServer:
        return PlatformServer(self.factory.mktemp("server-home") / ".shipyard")

    def take(self, module: str) -> PlatformServer:
        """A started server for ``module``; starts the next module's."""
        self.modules.discard(module)
        server, self.spare = self.spare or self._start(), None
        if self.modules:
            self.spare = self._start()
        return server

    def close(self) -> None:
        if self.spare is not None:
            self.spare.stop()


@pytest.fixture(scope="session")
def _servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Servers]:
    items = request.session.items
    modules = {i.nodeid.split("::")[0] for i in items if SERVED & set(i.fixturenames)}
    servers = _Servers(tmp_path_factory, modules)
    yield servers
    servers.close()


@pytest.fixture(scope="module")
def platform_server(request: pytest.FixtureRequest, _servers: _Servers) -> Iterator[str]:
    """A real platform server (``shipyard.server.run`` in a child process, auth off, on
    127.0.0.1) over a fresh local store shared by the tests of one module; its base URL."""
    server = _servers.take(request.node.nodeid.split("::")[0])
    try:
        yield server.wait()
    finally:
        server.stop()


@pytest.fixture
def remote(platform_server: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Remote mode for one test: ``SHIPYARD_URL`` names the module's platform server (the
    client's own home keeps only its download cache); the server's URL."""
    monkeypatch.setenv("SHIPYARD_URL", platform_server)
    reset_settings()
    yield platform_server
    reset_settings()


@pytest.fixture(params=["local", "remote"])
def mode(request: pytest.FixtureRequest, home: Path) -> str:
    """Runs the test once on a local store and once through a platform server (remote
    mode); the mode's name."""
    if request.param == "remote":
        request.getfixturevalue("remote")
    return str(request.param)


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "select tablename from pg_tables where schemaname = 'public' "
                    "and tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test once on SQLite and once on PostgreSQL; returns the backend name.

    On PostgreSQL the session database is emptied before the test.
    """
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("SHIPYARD_DB_URL", url)
        reset_settings()
        from shipyard.store import default_database

        default_database().engine  # migrate  # noqa: B018
        _reset_postgres(url)
    return str(request.param)

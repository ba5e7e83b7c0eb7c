"""Settings from the environment and an optional TOML config file.

Precedence, highest first: environment variables, the config file, the defaults.

========================== ============================== ======================================
environment variable       config file key                default
========================== ============================== ======================================
SHIPYARD_HOME              home                           ``.shipyard`` found (see below)
SHIPYARD_DB_URL            db_url                         ``sqlite:///<home>/shipyard.db``
SHIPYARD_ARTIFACTS_URL     artifacts_url                  ``<home>/artifacts``
SHIPYARD_FLUSH_INTERVAL    flush_interval (seconds)       ``1.0``
SHIPYARD_HEARTBEAT_INTERVAL heartbeat_interval (seconds)  ``5.0``
SHIPYARD_HEARTBEAT_TIMEOUT heartbeat_timeout (seconds)    ``30.0``
SHIPYARD_SMTP_URL          smtp_url                       ``smtp://localhost:25`` (alert e-mail)
SHIPYARD_SMTP_FROM         smtp_from                      ``shipyard@localhost``
SHIPYARD_REDIS_URL         redis_url                      none: serving evidence in the db
SHIPYARD_EVIDENCE_SYNC     evidence_sync (seconds)        ``0.2`` (serving workers pool)
SHIPYARD_CONFIG            (path of the file itself)      ``<home>/config.toml`` if it exists
SHIPYARD_URL               url                            none: the store is local
SHIPYARD_TOKEN             token                          none (a platform server's token)
========================== ============================== ======================================

Without ``SHIPYARD_HOME``, the home is found as git finds ``.git``: the nearest ``.shipyard``
folder in the working folder or one of its parents (not crossing into another file system),
else ``./.shipyard``, created on first write. ``Settings.home_source`` says which, and
:meth:`Settings.where` names the store in messages (``/tmp/.shipyard (SHIPYARD_HOME)``).

Read from the environment only: ``SHIPYARD_USER`` (who is acting, for records) and
``SHIPYARD_TRUSTED_REGISTRANTS`` (registrants whose pickled model versions load without
``trusted=True``; see ``shipyard.models._trust``).

The file holds the keys at top level or under a ``[shipyard]`` table. ``memory://`` as
``db_url`` or ``artifacts_url`` keeps everything in this process (tests, notebooks).

With ``SHIPYARD_URL`` (``http://host:8700``, a ``shipyard server``) the SDK and the CLI work
in *remote mode*: runs, datasets, models and artifacts go through that server's REST API
(``shipyard.store.remote_client``), with ``SHIPYARD_TOKEN`` as the bearer token when the
server wants one; the local database is not touched.

Written by hand rather than with pydantic-settings: ten typed fields do not justify the
import cost on every CLI call and every ``import shipyard``.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInput

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "HOME_FOLDER",
    "Settings",
    "current_user",
    "empty_store_message",
    "find_home",
    "get_settings",
    "reset_settings",
]

_ENV_PREFIX = "SHIPYARD_"
HOME_FOLDER = ".shipyard"
#: Settings.home_source: why the home is where it is
_SOURCES = {
    "env": "SHIPYARD_HOME",
    "config": "home in the config file",
    "here": "the working folder's",
    "found": "found above the working folder",
    "default": "no .shipyard here or above; SHIPYARD_HOME unset",
}
_NOT_FROM_ENV = ("config_file", "home_source")


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`get_settings`."""

    home: Path
    db_url: str
    artifacts_url: str
    flush_interval: float = 1.0
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 30.0
    # alert e-mail: smtp://[user:password@]host[:port], smtps:// (TLS) or smtp+starttls://
    smtp_url: str = "smtp://localhost:25"
    smtp_from: str = "shipyard@localhost"
    # serving: where workers and replicas pool rollout evidence (redis://host:6379/0), and
    # how often each pushes its own and pulls the pooled totals
    redis_url: str | None = None
    evidence_sync: float = 0.2
    config_file: Path | None = None
    # how ``home`` was chosen: "env" (SHIPYARD_HOME), "config" (the file's ``home``), "here"
    # (the working folder's ``.shipyard``), "found" (one above it) or "default" (none yet)
    home_source: str = "default"
    # remote mode: a platform server's base URL and the token presented to it
    url: str | None = None
    token: str | None = None

    @property
    def remote(self) -> bool:
        """Whether the stores are a platform server's (``SHIPYARD_URL``), not local."""
        return self.url is not None

    @classmethod
    def load(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) and the config file."""
        env = dict(os.environ if environ is None else environ)
        if "SHIPYARD_HOME" in env:
            home, source = Path(env["SHIPYARD_HOME"]), "env"
        else:
            found = find_home()
            if found is None:
                _refuse_foreign_here()
                home, source = Path(HOME_FOLDER), "default"
            elif found.parent == _absolute(Path.cwd()):  # stays relative, as it always was
                home, source = Path(HOME_FOLDER), "here"
            else:
                home, source = found, "found"
        config_path = _config_path(env, home)
        values: dict[str, Any] = _read_file(config_path) if config_path else {}
        if "home" in values and source != "env":
            source = "config"
        for f in fields(cls):
            key = _ENV_PREFIX + f.name.upper()
            if key in env and f.name not in _NOT_FROM_ENV:
                values[f.name] = env[key]
        home = Path(values.pop("home", home)).expanduser()
        db_url = str(values.pop("db_url", f"sqlite:///{home / 'shipyard.db'}"))
        artifacts_url = str(values.pop("artifacts_url", home / "artifacts"))
        smtp_url = str(values.pop("smtp_url", cls.smtp_url))
        smtp_from = str(values.pop("smtp_from", cls.smtp_from))
        redis_url = str(values.pop("redis_url", "")) or None
        url = _server_url(str(values.pop("url", "")).strip())
        token = str(values.pop("token", "")).strip() or None
        floats = {name: _positive_float(name, value) for name, value in values.items()}
        return cls(
            home=home,
            db_url=db_url,
            artifacts_url=artifacts_url,
            config_file=config_path,
            smtp_url=smtp_url,
            smtp_from=smtp_from,
            redis_url=redis_url,
            home_source=source,
            url=url,
            token=token,
            **floats,
        )

    def where(self) -> str:
        """The metadata store, for messages: its folder (or URL, password hidden) and why."""
        if self.url is not None:
            return f"{self.url} (SHIPYARD_URL)"
        if self.db_url == f"sqlite:///{self.home / 'shipyard.db'}":
            return f"{_absolute(self.home)} ({_SOURCES[self.home_source]})"
        return f"{_hide_password(self.db_url)} (SHIPYARD_DB_URL)"

    def store_exists(self) -> bool:
        """False when the metadata store is a SQLite file that does not exist yet: reading
        commands then answer "nothing" without creating a store."""
        prefix = "sqlite:///"
        if self.url is not None:
            return True  # the server's
        if not self.db_url.startswith(prefix):
            return True  # a server, or memory://
        path = self.db_url[len(prefix) :].split("?", 1)[0]
        return path in ("", ":memory:") or Path(path).exists()


def find_home(start: Path | None = None) -> Path | None:
    """The nearest ``.shipyard`` folder in ``start`` (default: the working folder) or one of its
    parents, as git finds ``.git``: up to the file system's root, not into another file system
    (a mount point ends the search). ``None`` when there is none."""
    try:
        here = (start or Path.cwd()).resolve()
        device = here.stat().st_dev
    except OSError:  # the working folder was deleted
        return None
    for folder in (here, *here.parents):
        try:
            if folder.stat().st_dev != device:
                return None
            home = folder / HOME_FOLDER
            if home.is_dir():  # the working folder's own is refused (Settings), not ignored
                return home if _owned(home, warn=folder != here) else None
        except OSError:  # a parent we may not read
            return None
    return None


def _owned(home: Path, warn: bool = True) -> bool:
    """Whether a found ``.shipyard`` belongs to this user: one another user planted in a
    shared parent (``/tmp/.shipyard``) would otherwise receive this user's runs and data, so
    it is ignored, as git ignores a repository another user owns (SHIPYARD_HOME names it
    explicitly)."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: no owners by number
        return True
    owner = home.stat().st_uid
    mine = bool(owner == getuid())
    if mine or not warn:  # warn: say it is ignored (the working folder's is refused instead)
        return mine
    logging.getLogger("shipyard").warning(
        "Ignoring %s: it belongs to another user (uid %d). Set SHIPYARD_HOME=%s to use it.",
        home,
        owner,
        home,
    )
    return False


def _refuse_foreign_here() -> None:
    """The default ``./.shipyard`` is no refuge when the working folder's ``.shipyard`` is
    one :func:`find_home` ignored (another user's): refuse it, as git refuses such a folder.

    Raises:
        InvalidInput: the working folder's ``.shipyard`` belongs to another user.
    """
    here = Path(HOME_FOLDER)
    if here.is_dir():
        where = _absolute(here)
        raise InvalidInput(
            f"{where} belongs to another user: Shipyard will not use it. Set "
            f"SHIPYARD_HOME to the store you mean (SHIPYARD_HOME={where} to use this one)."
        )


def empty_store_message(things: str) -> str:
    """What a listing prints when it found nothing: ``No models in /x/.shipyard (SHIPYARD_HOME).
    Try: shipyard quickstart``."""
    return f"No {things} in {get_settings().where()}. Try: shipyard quickstart"


def _absolute(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def _server_url(url: str) -> str | None:
    """``SHIPYARD_URL`` checked: empty is local mode; else an http(s) URL, without a trailing
    slash (one line naming the variable otherwise)."""
    if not url:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise InvalidInput(f"SHIPYARD_URL: {exc} (expected http://host:port).") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"SHIPYARD_URL: expected http://host:port, got {url!r}.")
    return url.rstrip("/")


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def _config_path(env: dict[str, str], home: Path) -> Path | None:
    if "SHIPYARD_CONFIG" in env:
        path = Path(env["SHIPYARD_CONFIG"]).expanduser()
        if not path.is_file():
            raise InvalidInput(f"SHIPYARD_CONFIG points at {path}, which is not a file.")
        return path
    default = home / "config.toml"
    return default if default.is_file() else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"Config file {path} is not valid TOML: {exc}") from exc
    table = data.get("shipyard", data)
    known = {f.name for f in fields(Settings)} - set(_NOT_FROM_ENV)
    unknown = sorted(set(table) - known)
    if unknown:
        raise InvalidInput(
            f"Config file {path} has unknown key(s) {unknown}; expected some of {sorted(known)}."
        )
    return dict(table)


def _positive_float(name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0:
        raise InvalidInput(f"Setting '{name}' must be a positive number of seconds, got {value!r}.")
    return number


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once; call :func:`reset_settings` after changing env."""
    return Settings.load()


def reset_settings() -> None:
    """Forget cached settings (and, through listeners, the stores built from them)."""
    get_settings.cache_clear()
    for listener in list(_reset_listeners):
        listener()


_reset_listeners: list[Any] = []


def on_reset(listener: Any) -> None:
    """Register a zero-argument callable run by :func:`reset_settings` (used by store caches)."""
    _reset_listeners.append(listener)


def current_user() -> str | None:
    """Who is acting, for event records: ``SHIPYARD_USER``, else the login name."""
    import getpass

    try:
        return (os.environ.get("SHIPYARD_USER") or getpass.getuser())[:128]
    except (KeyError, OSError):  # no login name in some containers
        return None

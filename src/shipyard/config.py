"""Settings from the environment and an optional TOML config file.

Precedence, highest first: environment variables, the config file, the defaults.

========================== ============================== ======================================
environment variable       config file key                default
========================== ============================== ======================================
SHIPYARD_HOME              home                           ``./.shipyard``
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
========================== ============================== ======================================

Read from the environment only: ``SHIPYARD_USER`` (who is acting, for records) and
``SHIPYARD_TRUSTED_REGISTRANTS`` (registrants whose pickled model versions load without
``trusted=True``; see ``shipyard.models._trust``).

The file holds the keys at top level or under a ``[shipyard]`` table. ``memory://`` as
``db_url`` or ``artifacts_url`` keeps everything in this process (tests, notebooks).

Written by hand rather than with pydantic-settings: ten typed fields do not justify the
import cost on every CLI call and every ``import shipyard``.
"""

from __future__ import annotations

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

__all__ = ["Settings", "current_user", "get_settings", "reset_settings"]

_ENV_PREFIX = "SHIPYARD_"


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

    @classmethod
    def load(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) and the config file."""
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("SHIPYARD_HOME", ".shipyard"))
        config_path = _config_path(env, home)
        values: dict[str, Any] = _read_file(config_path) if config_path else {}
        for f in fields(cls):
            key = _ENV_PREFIX + f.name.upper()
            if key in env and f.name != "config_file":
                values[f.name] = env[key]
        home = Path(values.pop("home", home)).expanduser()
        db_url = str(values.pop("db_url", f"sqlite:///{home / 'shipyard.db'}"))
        artifacts_url = str(values.pop("artifacts_url", home / "artifacts"))
        smtp_url = str(values.pop("smtp_url", cls.smtp_url))
        smtp_from = str(values.pop("smtp_from", cls.smtp_from))
        redis_url = str(values.pop("redis_url", "")) or None
        floats = {name: _positive_float(name, value) for name, value in values.items()}
        return cls(
            home=home,
            db_url=db_url,
            artifacts_url=artifacts_url,
            config_file=config_path,
            smtp_url=smtp_url,
            smtp_from=smtp_from,
            redis_url=redis_url,
            **floats,
        )


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
    known = {f.name for f in fields(Settings)} - {"config_file"}
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

"""Cron times in a time zone: which are due, pure functions (``croniter`` parses).

A schedule's times are wall-clock times of its zone, walked with ``croniter`` on naive
local times; each becomes an instant with the zone's rules (PEP 495, ``fold=0``):

- a wall time that a spring-forward change skips (02:30 on the night clocks jump from 02:00
  to 03:00) is read with the offset before the change, i.e. it fires as the same instant as
  03:30 — once: the firing key is the instant, so the real 03:30 is not fired again;
- a wall time that occurs twice (the hour repeated when clocks fall back) fires once, at
  its first occurrence.

The cursor of a schedule is the last wall time it handled; the times due are those after
it up to now. After a long stop only the newest :data:`CATCH_UP` are fired and the ones
before are reported as skipped (a range), so none is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from shipyard.errors import InvalidInput

__all__ = ["CATCH_UP", "Due", "check_cron", "check_zone", "due", "instant", "key_of", "wall"]

#: After a stop, at most this many missed times of a schedule are fired (the newest).
CATCH_UP = 10

_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_cron(expr: object) -> str:
    """The expression, if it is five cron fields (or ``@hourly``, ``@daily``...)."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidInput(f"cron must be an expression like '0 3 * * *'; got {expr!r}.")
    text = " ".join(expr.split())
    fields = len(text.split(" "))
    if (text not in _ALIASES and fields != 5) or not croniter.is_valid(text):
        raise InvalidInput(
            f"cron must be five fields (minute hour day month weekday) like '0 3 * * *', "
            f"or one of {', '.join(_ALIASES)}; got {expr!r}."
        )
    return text


def check_zone(name: object) -> ZoneInfo:
    """The time zone called ``name`` (``UTC``, ``Europe/Paris``)."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"timezone must be a zone name like 'Europe/Paris'; got {name!r}.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise InvalidInput(
            f"timezone must be an IANA zone name like 'UTC' or 'Europe/Paris'; got {name!r}."
        ) from None


def wall(at: float, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time of epoch seconds ``at`` in ``zone``."""
    return datetime.fromtimestamp(at, timezone.utc).astimezone(zone).replace(tzinfo=None)


def instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall time of ``zone`` (``fold=0``: see the module)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


def key_of(moment: datetime) -> str:
    """The firing key of a cron time: ``cron:2026-03-29T01:30:00Z``."""
    return "cron:" + moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Due:
    """The times to fire now, oldest first (wall time, UTC instant), and the range of wall
    times skipped because there were more than the catch-up allows (first, last)."""

    times: list[tuple[datetime, datetime]]
    skipped: tuple[datetime, datetime] | None = None


def due(expr: str, zone: ZoneInfo, after: datetime, now: float, cap: int = CATCH_UP) -> Due:
    """The times of ``expr`` in ``zone`` after the wall time ``after`` that are due at
    epoch seconds ``now``: at most the newest ``cap``; the older ones are skipped."""
    now_utc = datetime.fromtimestamp(now, timezone.utc)
    now_wall = wall(now, zone)
    if now_wall <= after:
        return Due([])
    walker = croniter(expr, now_wall.replace(microsecond=0) + timedelta(seconds=1))
    found: list[datetime] = []
    while len(found) <= cap:
        moment = walker.get_prev(datetime)
        if moment <= after:
            break
        found.append(moment)
    skipped = None
    if len(found) > cap:
        first = croniter(expr, after).get_next(datetime)
        skipped = (first, found[cap])
        found = found[:cap]
    times = []
    for moment in reversed(found):
        at = instant(moment, zone)
        if at > now_utc:  # a skipped wall time read forward past now: later
            break
        times.append((moment, at))
    return Due(times, skipped)

"""Times leave Shipyard (``--json``, the REST API) as ISO 8601 in UTC."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from shipyard._time import epoch_times, iso, iso_times

ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$"


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_epoch_seconds_round_trip_to_the_microsecond(epoch: float) -> None:
    text = iso(epoch)
    assert text is not None and re.match(ISO_UTC, text)
    assert abs(datetime.fromisoformat(text).timestamp() - epoch) <= 1e-6


def test_the_form_is_fixed_and_says_its_zone() -> None:
    assert iso(1796511424.123456) == "2026-12-05T22:57:04.123456+00:00"
    assert iso(1796511424) == "2026-12-05T22:57:04.000000+00:00"  # same width
    assert iso(None) is None
    naive = datetime(2026, 12, 5, 22, 57, 4)
    assert iso(naive) == "2026-12-05T22:57:04.000000+00:00"  # naive means UTC
    paris = datetime(2026, 12, 5, 23, 57, 4, tzinfo=timezone(timedelta(hours=1)))
    assert iso(paris) == "2026-12-05T22:57:04.000000+00:00"


def test_time_fields_convert_by_name_and_user_payloads_do_not() -> None:
    payload = {
        "created_at": 0.0,
        "updated_at": None,
        "checks": [{"at": 60, "rows": 5, "status": "ok"}],
        "run": {"start_time": 1.5, "end_time": 2.5, "seconds": 1.0},
        "evidence": {"window": {"start": 0, "end": None, "rows": 3}, "start": 4},
        "params": {"stop_at": 3},  # the user's names
        "metrics.seen_at": 0.9,  # a flattened user name
        "tags": {"created_at": 7},
        "resolved_at": True,  # not a time
        "opened_at": "already text",
    }
    shown = iso_times(payload)
    assert shown["created_at"] == "1970-01-01T00:00:00.000000+00:00"
    assert shown["updated_at"] is None
    assert shown["checks"] == [
        {"at": "1970-01-01T00:01:00.000000+00:00", "rows": 5, "status": "ok"}
    ]
    assert shown["run"] == {
        "start_time": "1970-01-01T00:00:01.500000+00:00",
        "end_time": "1970-01-01T00:00:02.500000+00:00",
        "seconds": 1.0,
    }
    assert shown["evidence"] == {
        "window": {"start": "1970-01-01T00:00:00.000000+00:00", "end": None, "rows": 3},
        "start": 4,
    }
    for key in ("params", "metrics.seen_at", "tags", "resolved_at", "opened_at"):
        assert shown[key] == payload[key]
    assert payload["created_at"] == 0.0  # the input is left as it was


def test_remote_clients_turn_time_fields_back_into_epoch_seconds() -> None:
    payload = {
        "deliveries": [{"at": 60.5, "event": "opened", "ok": True}],
        "evidence": {"window": {"start": 0.0, "end": 1.25, "rows": 3}, "start": 4},
        "params": {"stop_at": "1970-01-01T00:00:00.000000+00:00"},  # the user's text
        "opened_at": "not a time",
    }
    back = epoch_times(iso_times(payload))
    assert back == payload
    assert isinstance(back["deliveries"][0]["at"], float)

"""The contract of an alert channel: the checks every entry of the channels table passes.

``check_channel(entry)`` runs them all; each ``check_*`` function is one check, named in
``CHECKS`` so a test can parametrize over (entry, check). A new channel (one entry in
``shipyard.monitoring._channels.CHANNELS``) is checked by the same test: its own usage
example parses back to itself, targets it refuses give a one-line InvalidInput naming the
``channels`` field, and a notice sent to the receiver the entry offers on 127.0.0.1
arrives once (an entry with no offline receiver skips that check). Each check raises
AssertionError naming what failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.monitoring._channels import CHANNELS, Channel, parse_channel, send

__all__ = [
    "CHANNELS",
    "CHECKS",
    "check_channel",
    "check_fields",
    "check_invalid_targets_refused",
    "check_sends_to_a_local_receiver",
    "check_usage_round_trips",
]

# targets no channel takes: blanks, spaces, another kind's target
ODD_TARGETS = ("", " ", "not a target", "ftp://example.org", "@", "a@", "x" * 3)


def _example(entry: Channel) -> str:
    """The entry's usage without its optional parts (``[...]``)."""
    usage = entry.usage
    while "[" in usage:
        start = usage.index("[")
        usage = usage[:start] + usage[usage.index("]", start) + 1 :]
    return usage


def check_fields(entry: Channel) -> None:
    assert entry.scheme and ":" not in entry.scheme, f"scheme {entry.scheme!r}"
    # an entry checked before it joins the table (a plugin's) passes; a taken scheme does not
    assert CHANNELS.get(entry.scheme, entry) is entry, f"{entry.scheme}: another channel has it"
    assert entry.usage.split(":")[0] == entry.scheme, f"{entry.scheme}: usage {entry.usage!r}"
    assert entry.attempts >= 1, f"{entry.scheme}: attempts {entry.attempts}"


def check_usage_round_trips(entry: Channel) -> None:
    """The usage example parses back to itself, twice."""
    example = _example(entry)
    assert parse_channel(example) == example, f"{entry.scheme}: {example!r} refused"
    assert parse_channel(parse_channel(example)) == example
    target = example.partition(":")[2] if ":" in example else None
    assert entry.problem(target) == "", f"{entry.scheme}: {target!r} has a problem"


def check_invalid_targets_refused(entry: Channel) -> None:
    """Targets the entry says are wrong are refused with one line naming ``channels``."""
    refused = 0
    for target in ODD_TARGETS:
        problem = entry.problem(target)
        assert isinstance(problem, str), f"{entry.scheme}: problem() must return a string"
        if not problem:
            continue
        refused += 1
        channel = f"{entry.scheme}:{target}"
        try:
            parse_channel(channel)
        except InvalidInput as exc:
            message = str(exc)
            assert message.startswith("channels: ") and "\n" not in message, message
            assert problem in message, f"{entry.scheme}: the message omits {problem!r}"
        else:
            raise AssertionError(f"{channel!r} parsed although its entry has a problem")
    assert refused, f"{entry.scheme}: refuses none of {ODD_TARGETS}"
    try:
        parse_channel(f"{entry.scheme}x:{_example(entry)}")  # an unknown kind
    except InvalidInput:
        pass
    else:
        raise AssertionError(f"{entry.scheme}x: an unknown kind parsed")


def _alert(alert_id: int) -> dict[str, Any]:
    return {
        "id": alert_id, "monitor": "contract", "target": "loans", "detector": "data_drift",
        "status": "open", "title": "data drift in 1 of 2 features (x)",
        "evidence": {"features": {"x": {"statistic": float("nan")}}}, "occurrences": 1,
    }  # fmt: skip


def check_sends_to_a_local_receiver(entry: Channel) -> None:
    """A notice sent to the entry's receiver on 127.0.0.1 arrives once, with its event and
    alert id (a NaN in the evidence included)."""
    receiver = entry.receiver()
    if receiver is None:
        return
    with receiver as local:
        delivery = send(local.channel, "opened", _alert(41))
        assert delivery.ok, f"{entry.scheme}: {delivery.error}"
        deadline = time.monotonic() + 10
        while not local.received() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert local.received() == [("opened", 41)], f"{entry.scheme}: got {local.received()}"


CHECKS: tuple[Callable[[Channel], None], ...] = (
    check_fields,
    check_usage_round_trips,
    check_invalid_targets_refused,
    check_sends_to_a_local_receiver,
)


def check_channel(entry: Channel) -> None:
    """Every check of ``CHECKS`` on one entry (raises AssertionError at the first failure)."""
    for check in CHECKS:
        check(entry)

"""A served model: the version a reference names, loaded, warmed and swapped when it moves.

``churn@champion`` is resolved against the registry every ``poll`` seconds (one prebuilt
query). When the alias (or stage) names another version, that version is loaded in a thread
and warmed on its stored sample rows while the current one keeps answering; only then does
it take traffic, in one assignment, so no request sees a half-loaded model. A version that
fails to load or to warm never takes traffic: the old one stays and the error is kept.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard import models
from shipyard.errors import ShipyardError
from shipyard.serving._batcher import Batcher

__all__ = ["Active", "LoadFailure", "Slot", "warm"]

log = logging.getLogger("shipyard.serving")

WARM_ROWS = 16
INLINE_BELOW = 0.0002  # seconds per one-row call under which requests are not batched
BACKOFF = (2.0, 300.0)  # seconds before the first retry of a failed version, and the cap


@dataclass(frozen=True)
class Active:
    """What answers requests now: a loaded version and its batcher (swapped as one)."""

    model: Any  # models.LoadedModel
    batcher: Batcher

    # read on every answer: worked out once (the model and its version never change here)
    @functools.cached_property
    def name(self) -> str:
        return str(self.model.version.name)

    @functools.cached_property
    def version(self) -> int:
        return int(self.model.version.version)

    @functools.cached_property
    def classes(self) -> tuple[Any, ...] | None:
        """The model's class labels (None for a regressor)."""
        classes = self.model.classes
        return None if classes is None else tuple(classes)


@dataclass(frozen=True)
class LoadFailure:
    """A version that failed to load or warm: how many times in a row, the last error, and
    when (on the slot's clock) it may be tried again, ``delay`` seconds after the failure."""

    version_id: str
    ref: str
    failures: int
    error: str
    delay: float
    retry_at: float

    def message(self) -> str:
        """One line for logs and errors, the same until the next attempt."""
        times = "once" if self.failures == 1 else f"{self.failures} times in a row"
        return (
            f"loading {self.ref}: {self.error} (failed {times}; next attempt in {self.delay:g} s)"
        )


class Slot:
    """One model reference being served (see the module docstring). ``clock`` (monotonic
    seconds) and ``backoff`` (first delay, cap) are there for tests."""

    def __init__(
        self,
        ref: str,
        *,
        format: str = "auto",
        max_batch: int = 64,
        max_wait: float = 0.0,
        observe_batch: Any = None,
        observe_load: Any = None,
        clock: Callable[[], float] = time.monotonic,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:
        self.ref = ref
        self.format = format
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.observe_batch = observe_batch
        self.observe_load = observe_load  # told (version ref, seconds) after every load
        self.clock = clock
        self.backoff = backoff
        self.active: Active | None = None
        self.last_error: str | None = None
        self.failure: LoadFailure | None = None  # the version named now failed: backing off

    @property
    def ready(self) -> bool:
        return self.active is not None

    def load(self) -> Active:
        """Load and warm the version the reference names now, and make it active.

        Raises the version's :class:`LoadFailure` message (a ``ShipyardError``) without
        trying while it is backing off."""
        info = models.get(self.ref)
        self._check_backoff(info)
        self.active = self._attempt(info)
        return self.active

    async def refresh(self) -> bool:
        """Swap to the version the reference names now, if it moved; True if swapped."""
        try:
            info = await asyncio.to_thread(models.get, self.ref)
        except Exception as exc:
            self.last_error = f"resolving {self.ref}: {exc}"
            return False
        current = self.active
        if current is not None and current.model.version.id == info.id:
            self.failure = self.last_error = None  # named back: whatever failed is moot
            return False
        try:
            self._check_backoff(info)
            prepared = await asyncio.to_thread(self._attempt, info)
        except Exception:
            return False
        self.active = prepared
        log.info("now serving %s (was %s)", info.ref, current and current.model.version.ref)
        return True

    def _check_backoff(self, info: Any) -> None:
        failure = self.failure
        if (
            failure is not None
            and failure.version_id == info.id
            and self.clock() < failure.retry_at
        ):
            raise ShipyardError(failure.message())

    def _attempt(self, info: Any) -> Active:
        """One try at loading ``info``: on failure the back-off grows (and the error is
        logged once per distinct message), on success it is forgotten."""
        try:
            prepared = self._prepare(info)
        except Exception as exc:
            before = self.failure if self.failure and self.failure.version_id == info.id else None
            failures = before.failures + 1 if before is not None else 1
            first, cap = self.backoff
            delay = min(first * 2 ** (failures - 1), cap)
            self.failure = failure = LoadFailure(
                info.id, info.ref, failures, str(exc), delay, self.clock() + delay
            )
            self.last_error = failure.message()
            if before is None or before.error != failure.error:
                log.error("model %s failed to load and takes no traffic: %s", info.ref, exc)
            else:
                log.info("model %s still fails to load: %s", info.ref, self.last_error)
            raise ShipyardError(self.last_error) from exc
        self.failure = self.last_error = None
        return prepared

    def _prepare(self, info: Any) -> Active:
        started = time.perf_counter()
        model = models.load(info.ref, format=self.format)
        one_row = warm(model, info)
        if self.observe_load is not None:
            self.observe_load(info.ref, time.perf_counter() - started)
        batcher = Batcher(model.predict_columns, self.max_batch, self.max_wait, self.observe_batch)
        # A model that answers a row faster than an event-loop turn gains nothing from
        # company: it is called at once (unless the user asked batches to wait).
        batcher.inline = one_row is not None and one_row < INLINE_BELOW and self.max_wait == 0
        return Active(model, batcher)


def warm(model: Any, info: Any) -> float | None:
    """Predict on stored rows, so the first request pays no lazy initialisation (a model
    that cannot predict its own sample is refused here); the fastest of a few one-row calls,
    in seconds (None without a sample)."""
    frame = models.sample(info)
    if frame is None or model.signature is None:
        return None
    rows = frame[[c for c in model.signature.names if c in frame.columns]].head(WARM_ROWS)
    columns = model.validate(rows)
    model.predict_columns(columns)
    one = {name: values[:1] for name, values in columns.items()}
    fastest = math.inf
    for _ in range(5):
        started = time.perf_counter()
        model.predict_columns(one)
        fastest = min(fastest, time.perf_counter() - started)
    return fastest

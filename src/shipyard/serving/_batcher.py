"""Adaptive micro-batching: concurrent requests share one model call.

No timer in the common case: a request that finds the model idle is scheduled at once (on
the event loop's next turn, after whatever requests are already parsed), so a lone request
waits for nothing. Under load, requests that arrive while the loop is busy pile up and the
next turn runs them together, up to ``max_batch`` rows; ``max_wait`` (seconds, default 0)
holds a batch open a little longer to gather more. Model calls run on the event loop itself:
ONNX Runtime answers a batch in microseconds, less than a hop to a thread would cost; a
request of ``THREAD_ROWS`` rows or more runs in a thread, so the loop keeps answering others.
A model that answers one row faster than a loop turn (``inline``, measured at warm-up) is
called at once: batching cannot help it, and the turn it saves is most of its cost.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Batcher"]

THREAD_ROWS = 2048  # requests this big run in a thread, not on the event loop

Run = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray | None]]
Result = tuple[np.ndarray, np.ndarray | None, float]  # labels, probabilities, model seconds


def _timed(run: Run, columns: dict[str, np.ndarray]) -> Result:
    started = time.perf_counter()
    labels, proba = run(columns)
    return labels, proba, time.perf_counter() - started


@dataclass
class _Waiting:
    columns: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future[Result]


class Batcher:
    """Gathers validated columns of concurrent requests for one model."""

    def __init__(
        self,
        run: Run,
        max_batch: int = 64,
        max_wait: float = 0.0,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        self.run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.observe = observe  # told the size of every batch (metrics)
        self._waiting: list[_Waiting] = []
        self._scheduled = False
        self.inline = False  # call at once: set for models faster than a loop turn

    async def predict(self, columns: dict[str, np.ndarray], rows: int) -> Result:
        """Labels (or values), probabilities (or None) and the seconds the model call that
        answered them took (the whole batch's call: what this request waited on the model,
        not what it waited in line)."""
        rows = len(next(iter(columns.values()))) if columns else rows  # as validated
        if rows >= THREAD_ROWS:
            # a big request runs in a thread, so the loop keeps answering others meanwhile
            # (ONNX Runtime and NumPy release the GIL)
            if self.observe is not None:
                self.observe(rows)
            return await asyncio.to_thread(_timed, self.run, columns)
        if self.inline or rows >= self.max_batch:  # nothing to gain from company
            if self.observe is not None:
                self.observe(rows)
            return _timed(self.run, columns)
        loop = asyncio.get_running_loop()
        waiting = _Waiting(columns, rows, loop.create_future())
        self._waiting.append(waiting)
        if not self._scheduled:
            self._scheduled = True
            if self.max_wait > 0:
                loop.call_later(self.max_wait, self._flush)
            else:
                loop.call_soon(self._flush)
        return await waiting.future

    def _flush(self) -> None:
        self._scheduled = False
        while self._waiting:
            batch, rows = [], 0
            while self._waiting and rows + self._waiting[0].rows <= self.max_batch:
                item = self._waiting.pop(0)
                batch.append(item)
                rows += item.rows
            if not batch:  # a single request larger than a batch: alone
                batch = [self._waiting.pop(0)]
                rows = batch[0].rows
            self._call(batch, rows)

    def _call(self, batch: list[_Waiting], rows: int) -> None:
        if self.observe is not None:
            self.observe(rows)
        if len(batch) == 1:
            self._settle(batch[0], functools.partial(_timed, self.run, batch[0].columns))
            return
        try:
            joined = {
                name: np.concatenate([item.columns[name] for item in batch])
                for name in batch[0].columns
            }
            labels, proba, seconds = _timed(self.run, joined)
        except Exception:
            for item in batch:
                self._settle(item, functools.partial(_timed, self.run, item.columns))
            return
        start = 0
        for item in batch:
            end = start + item.rows
            part = None if proba is None else proba[start:end]
            if not item.future.done():
                item.future.set_result((labels[start:end], part, seconds))
            start = end

    @staticmethod
    def _settle(item: _Waiting, call: Callable[[], Any]) -> None:
        if item.future.done():  # the client went away
            return
        try:
            item.future.set_result(call())
        except Exception as exc:
            item.future.set_exception(exc)

"""The inference log's buffers: requests sorted by the writer thread into Python lists and
arrays per model version (float inputs that arrive as one matrix are stacked in one call),
then turned into Arrow tables."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["Buffer"]


class Buffer:
    """The queued rows of one model version (with one set of input columns), as lists."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.rows = 0
        self.meta: dict[str, list[Any]] = {
            k: [] for k in ("request_id", "row", "at", "route", "latency_ms", "shadow")
        }
        self.prediction = _Chunks()
        self.probability = _Chunks()
        self.columns = {n: _Chunks() for n in names}
        self._rows: list[np.ndarray] = []  # one-row float matrices (RowColumns), stacked later

    def add(
        self,
        request_id: str,
        route: str,
        latency: float,
        shadow: bool,
        columns: Mapping[str, np.ndarray],
        labels: np.ndarray,
        proba: np.ndarray | None,
        rows: int,
        at: float | None = None,
    ) -> None:
        """Queue a request's rows; ``at``: when it was answered (default: now)."""
        meta, now = self.meta, time.time() if at is None else at
        if rows == 1:
            meta["request_id"].append(request_id)
            meta["row"].append(0)
            meta["at"].append(now)
            meta["route"].append(route)
            meta["latency_ms"].append(latency * 1e3)
            meta["shadow"].append(shadow)
        else:
            meta["request_id"].extend([request_id] * rows)
            meta["row"].extend(range(rows))
            meta["at"].extend([now] * rows)
            meta["route"].extend([route] * rows)
            meta["latency_ms"].extend([latency * 1e3] * rows)
            meta["shadow"].extend([shadow] * rows)
        if rows == 1:  # the common case, kept to plain appends
            self.prediction.scalars.append(labels.item(0))
            self.probability.scalars.append(np.nan if proba is None else float(proba[0].max()))
        else:
            self.prediction.add(np.asarray(labels))
            self.probability.add(np.full(rows, np.nan) if proba is None else np.max(proba, axis=1))
        self.rows += rows
        if getattr(columns, "names", None) == self.names:  # float inputs as one matrix
            self._rows.append(columns.matrix)  # type: ignore[attr-defined]
            return  # stacked with the next ones in one call
        self._stack()
        if rows == 1:  # ~5 µs for 20 columns
            for name, chunks in self.columns.items():
                values = columns[name]
                # Python values, not NumPy scalars: Arrow converts a list of Python floats
                # ~90x faster, and the writer holds the GIL for that conversion
                chunks.scalars.append(
                    values.item(0) if values.dtype.kind != "M" else str(values[0])
                )
        else:
            for name, chunks in self.columns.items():
                chunks.add(columns[name])

    def add_rows(self, entries: list[tuple[Any, ...]]) -> None:
        """Queue one-row requests whose inputs are one matrix (``InferenceLog.collect``'s
        entries: request id, route, model, version, latency, shadow, inputs, labels,
        probabilities, time), a few calls for all of them rather than some per request."""
        ids, routes, _, _, latencies, shadows, inputs, labels, probas, times = zip(
            *entries, strict=True
        )
        meta, count = self.meta, len(entries)
        meta["request_id"].extend(ids)
        meta["row"].extend([0] * count)
        meta["at"].extend(times)
        meta["route"].extend(routes)
        meta["latency_ms"].extend([latency * 1e3 for latency in latencies])
        meta["shadow"].extend(shadows)
        self.prediction.add(np.concatenate(labels))
        if any(p is None for p in probas):  # one model version: all or none have them
            self.probability.add(np.full(count, np.nan))
        else:
            self.probability.add(np.concatenate(probas).max(axis=1))
        self._rows.extend(i.matrix for i in inputs)
        self.rows += count

    def _stack(self) -> None:
        """The one-row matrices queued so far as one chunk per column (in arrival order)."""
        if self._rows:
            stacked = np.concatenate(self._rows)
            self._rows = []
            for j, chunks in enumerate(self.columns.values()):
                chunks.add(stacked[:, j])

    def table(self, model: str, version: int) -> Any:
        import pyarrow as pa

        self._stack()
        data: dict[str, Any] = {
            "request_id": pa.array(self.meta["request_id"], pa.string()),
            "row": pa.array(self.meta["row"], pa.int32()),
            "at": pa.array(self.meta["at"], pa.float64()),
            "route": pa.array(self.meta["route"], pa.string()),
            "model": pa.array([model] * self.rows, pa.string()),
            "version": pa.array([version] * self.rows, pa.int64()),
            "latency_ms": pa.array(self.meta["latency_ms"], pa.float64()),
            "shadow": pa.array(self.meta["shadow"], pa.bool_()),
            "prediction": self.prediction.arrow(),
            "probability": self.probability.arrow(),
        }
        for name, values in self.columns.items():
            if name not in data:
                data[name] = values.arrow()
        return pa.table(data)


def _loggable(chunk: Any) -> Any:
    """A chunk in the form Arrow converts fastest: numbers as NumPy arrays, text and other
    Python objects as lists (Arrow reads NumPy text arrays value by value, slowly), and
    datetimes as text, as JSON carried them."""
    if isinstance(chunk, list):
        first = next((v for v in chunk if v is not None), None)
        if isinstance(first, np.datetime64):
            return np.asarray(chunk).astype("datetime64[us]").astype(str).tolist()
        if isinstance(first, (np.number, np.bool_)):
            return np.asarray(chunk)
        return chunk
    if chunk.dtype.kind == "M":
        return chunk.astype("datetime64[us]").astype(str).tolist()
    if chunk.dtype.kind in "OU":
        return chunk.tolist()
    return chunk


class _Chunks:
    """A column being queued: single rows as a Python list (cheap to append), larger
    requests as their arrays (no per-value Python), in arrival order."""

    def __init__(self) -> None:
        self.chunks: list[Any] = []
        self.scalars: list[Any] = []

    def add(self, values: np.ndarray) -> None:
        if self.scalars:
            self.chunks.append(self.scalars)
            self.scalars = []
        self.chunks.append(values)

    def arrow(self) -> Any:
        import pyarrow as pa

        chunks = [*self.chunks, self.scalars] if self.scalars else self.chunks
        chunks = [_loggable(c) for c in chunks]
        try:
            return pa.chunked_array([pa.array(c) for c in chunks]).combine_chunks()
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: text
            text = [None if v is None else str(v) for c in chunks for v in c]
            return pa.array(text, pa.string())

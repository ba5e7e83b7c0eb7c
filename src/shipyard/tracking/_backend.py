"""The tracking store's interface: the primitives every backend (SQL today, HTTP next) offers."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shipyard.store import Blob
from shipyard.tracking._process import ProcessInfo
from shipyard.tracking._types import (
    Experiment,
    ExperimentId,
    Point,
    RunData,
    RunId,
    RunInfo,
    RunsPage,
)

__all__ = ["RawPoint", "TrackingBackend"]

#: A metric point as buffered by the client: (key, value, step, timestamp).
RawPoint = tuple[str, float, int, float]


class TrackingBackend(abc.ABC):
    """Experiments, runs, params, tags, metric series and artifact records.

    Thread-safe; returned objects are frozen snapshots. Writes take batches (metric points
    buffered by the client, params as a dict), each batch atomic. Unknown experiments and
    runs raise :class:`~shipyard.errors.NotFound`; a param logged again with another value
    :class:`~shipyard.errors.Conflict`; an ambiguous run id prefix
    :class:`~shipyard.errors.InvalidInput`.
    """

    # -- experiments ---------------------------------------------------------------------

    @abc.abstractmethod
    def experiment(self, name: str, *, create: bool = True) -> Experiment:
        """The experiment called ``name``, created when missing (safe across processes)."""

    @abc.abstractmethod
    def get_experiment(self, name_or_id: str) -> Experiment:
        """An experiment by name or id."""

    @abc.abstractmethod
    def list_experiments(self) -> list[Experiment]:
        """Every experiment with its number of (not deleted) runs, oldest first."""

    # -- run lifecycle -------------------------------------------------------------------

    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: ExperimentId,
        name: str,
        *,
        parent_id: RunId | None,
        process: ProcessInfo,
        source: Mapping[str, Any],
        environment: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        start_time: float | None = None,
    ) -> RunInfo:
        """Insert a running run (and its initial tags) atomically."""

    @abc.abstractmethod
    def resume_run(self, run_id: RunId, process: ProcessInfo) -> RunInfo:
        """Mark an existing run running again, owned by ``process``."""

    @abc.abstractmethod
    def finish_run(
        self,
        run_id: RunId,
        status: str,
        points: Sequence[RawPoint] = (),
        end_time: float | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Write the last metric points and the final status atomically (the points not
        again when the run already has ``batch_id``, see :meth:`write_metrics`)."""

    @abc.abstractmethod
    def heartbeat(self, run_ids: Sequence[RunId], now: float | None = None) -> None:
        """Record that the processes owning ``run_ids`` are alive."""

    @abc.abstractmethod
    def reap(self, now: float | None = None) -> list[RunId]:
        """Mark running runs whose process is gone as killed; returns their ids."""

    @abc.abstractmethod
    def delete_run(self, run_id: RunId, *, purge: bool = False) -> list[RunId]:
        """Delete a run and its children (soft, or ``purge``: removed); the ids deleted."""

    # -- params, tags, metrics, artifacts ------------------------------------------------

    @abc.abstractmethod
    def log_params(self, run_id: RunId, params: Mapping[str, str]) -> None:
        """Record params (write-once: another value for a stored key is a Conflict)."""

    @abc.abstractmethod
    def set_tags(self, run_id: RunId, tags: Mapping[str, str]) -> None:
        """Set tags, replacing any previous value of the same key."""

    @abc.abstractmethod
    def write_metrics(
        self,
        run_id: RunId,
        points: Sequence[RawPoint],
        heartbeat_at: float | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Append metric points atomically and keep each key's latest point.

        ``batch_id`` (from :meth:`new_batch_id`) names the batch: sent again with the same
        id, as after an answer lost on the way back, it is not written twice."""

    def new_batch_id(self) -> str | None:
        """An id for the next batch of points, or None where a write cannot succeed
        unseen (a local store's answer is never lost, so its writes need no id)."""
        return None

    @abc.abstractmethod
    def read_metrics(self, run_id: RunId, key: str) -> list[Point]:
        """Every point of one metric of a run, by step then time."""

    @abc.abstractmethod
    def add_artifacts(self, run_id: RunId, entries: Iterable[tuple[str, Blob, str]]) -> None:
        """Record (path, blob, kind) entries; a path logged again points at the new content."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunData:
        """A run with its params, tags, latest metrics, artifacts and children (id or
        unique prefix of at least 6 characters)."""

    @abc.abstractmethod
    def search_runs(
        self,
        experiments: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> RunsPage:
        """One page of the runs of ``experiments`` (names; none: every experiment) matching
        ``filter`` (the SDK's filter language), ordered by ``order_by`` then newest first;
        ``columns`` limits the ``metrics.*``/``params.*``/``tags.*`` values returned.

        Raises InvalidFilter for a filter that does not parse, NotFound for an unknown
        experiment, InvalidInput for a token of another search."""

    # -- conveniences on the primitives --------------------------------------------------

    def end_run(self, run_id: RunId, status: str, end_time: float | None = None) -> None:
        """Set a run's final status and end time."""
        self.finish_run(run_id, status, (), end_time)

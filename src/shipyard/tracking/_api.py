"""The tracking functions of the SDK, on the store named by the settings."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config import get_settings, on_reset
from shipyard.errors import InvalidInput, NotFound
from shipyard.store import BlobStore, default_artifacts, default_database
from shipyard.tracking import _run, _search
from shipyard.tracking._backend import TrackingBackend
from shipyard.tracking._objects import deserialize
from shipyard.tracking._run import Run, active_run, require_active
from shipyard.tracking._store import TrackingStore
from shipyard.tracking._types import Experiment, Point, RunData

if TYPE_CHECKING:
    import pandas as pd

_AUTO: Any = object()


def tracking_store() -> TrackingBackend:
    """The tracking store of the settings, built once (until a reset): the platform
    server's over HTTP in remote mode (``SHIPYARD_URL``), else :func:`local_store`."""
    if not get_settings().remote:
        return local_store()
    store = _stores.get("http")
    if store is None:
        from shipyard.store import remote_client
        from shipyard.tracking._http import HttpTrackingBackend

        with _lock:
            store = _stores.get("http")
            if store is None:
                store = _stores["http"] = HttpTrackingBackend(remote_client())
    return store


def local_store() -> TrackingStore:
    """The SQL tracking store on the configured metadata store (what a platform server
    serves), built once (until a reset)."""
    store = _stores.get("sql")
    if store is None:
        with _lock:
            store = _stores.get("sql")
            if store is None:
                settings = get_settings()
                store = TrackingStore(default_database(), settings.heartbeat_timeout)
                _stores["sql"] = store
    assert isinstance(store, TrackingStore)
    return store


def _forget() -> None:
    with _lock:
        _stores.clear()


_stores: dict[str, TrackingBackend] = {}
_lock = threading.Lock()
on_reset(_forget)


def _artifacts() -> BlobStore:
    return default_artifacts()


def start_run(
    experiment: str | None = None,
    name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
    parent: Run | None = _AUTO,
    run_id: str | None = None,
) -> Run:
    """Start (or with ``run_id``, resume) a run and make it the active one.

    Inside another active run, the new run is its child unless ``parent=None``; the
    experiment defaults to the parent's, else ``"default"``. Use it as a context manager:
    an exception inside the block marks the run failed (``KeyboardInterrupt``: killed) and
    is re-raised.

    Example:
        >>> import shipyard as sy
        >>> with sy.start_run(experiment="doctest", name="first") as run:
        ...     run.log_param("model", "lgbm")
        ...     run.log_metric("auc", 0.91)
        >>> sy.get_run(run.id).metrics["auc"].value
        0.91
    """
    store = tracking_store()
    if run_id is not None:
        return _run.resume(store, _artifacts(), run_id)
    parent_run = active_run() if parent is _AUTO else parent
    if parent_run is not None and not isinstance(parent_run, Run):
        raise InvalidInput(f"parent must be a Run or None, got {parent_run!r}.")
    if experiment is None:
        experiment = parent_run.experiment if parent_run is not None else "default"
    return _run.new_run(store, _artifacts(), experiment, name, parent_run, tags)


def end_run(status: str = "finished") -> None:
    """End the active run."""
    require_active().end(status)


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: float | None = None
) -> None:
    """Log a metric point to the active run (see :meth:`Run.log_metric`)."""
    require_active().log_metric(key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics to the active run."""
    require_active().log_metrics(metrics, step)


def log_param(key: str, value: Any) -> None:
    """Log a param to the active run."""
    require_active().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log several params to the active run."""
    require_active().log_params(params)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    require_active().set_tag(key, value)


def log_artifact(item: Any, name: str | None = None) -> None:
    """Log a file, folder or object to the active run (see :meth:`Run.log_artifact`)."""
    require_active().log_artifact(item, name)


def get_run(run_id: str) -> RunData:
    """A run with its params, tags, latest metrics and artifacts (id or unique prefix)."""
    return tracking_store().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Point]:
    """Every point of one metric of a run, by step."""
    store = tracking_store()
    return store.read_metrics(store.get_run(run_id).info.id, key)


def list_experiments() -> list[Experiment]:
    """Every experiment, with run counts."""
    return tracking_store().list_experiments()


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = _search.DEFAULT_PAGE,
    page_token: str | None = None,
    columns: Sequence[str] | None = None,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """Runs matching a filter, as a DataFrame with one row per run.

    Args:
        experiment: a name, several names, or None for every experiment.
        filter: e.g. ``"metrics.auc > 0.9 and params.model = 'lgbm'"`` (grammar in
            :mod:`shipyard.tracking._filter`).
        order_by: e.g. ``["metrics.auc desc", "start_time"]``.
        max_results: the page size.
        page_token: ``df.attrs["next_page_token"]`` of the previous page.
        columns: only these ``metrics.*``/``params.*``/``tags.*`` columns (default: all).

    Raises:
        InvalidFilter: a filter that does not parse, with a pointer at the offending token.
        NotFound: an unknown experiment.
    """
    return _search.search_frame(
        tracking_store(),
        experiment,
        filter,
        order_by,
        max_results,
        page_token,
        columns,
        include_deleted,
    )


def compare_runs(run_ids: Sequence[str]) -> pd.DataFrame:
    """Runs side by side: a column per run, a row per param/metric/tag, ``differs`` flag."""
    return _search.compare(tracking_store(), run_ids)


def delete_run(run_id: str, *, purge: bool = False) -> list[str]:
    """Delete a run and its children (hidden from searches; ``purge`` removes the rows)."""
    store = tracking_store()
    return list(store.delete_run(store.get_run(run_id).info.id, purge=purge))


def load_artifact(run_id: str, path: str) -> Any:
    """The object stored at ``path`` in a run: DataFrame, array, dict, text, or bytes."""
    info = _artifact(run_id, path)
    return deserialize(_artifacts().get_bytes(info.digest), info.kind)


def download_artifact(run_id: str, path: str, dest: str | Path) -> Path:
    """Copy one artifact to a local file, verified against its hash."""
    return _artifacts().download(_artifact(run_id, path).digest, dest)


def _artifact(run_id: str, path: str) -> Any:
    run = get_run(run_id)
    for artifact in run.artifacts:
        if artifact.path == path:
            return artifact
    known = ", ".join(a.path for a in run.artifacts) or "none"
    raise NotFound(f"Run {run.info.id} has no artifact {path!r} (it has: {known}).")

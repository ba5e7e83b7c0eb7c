"""Where trials' folds are fitted: in this process, in local worker processes, or on Ray;
``auto`` picks worker processes (one per usable core) for longer searches on several cores.

Workers only fit and score one fold of one configuration; the search (Optuna's ask and tell,
pruning) and all tracking stay in the calling process, so every trial is a run in the same
store whatever executes it, and workers need no access to the store.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.automl._fitting import FoldOutcome, fit_within, subsample
from shipyard.automl._problem import predict_values, score_values
from shipyard.automl._spaces import make_pipeline
from shipyard.errors import InvalidInput

__all__ = ["AUTO_BUDGET", "EXECUTORS", "FoldJob", "make_executor", "usable_cores"]

AUTO_BUDGET = 30.0  # "auto" starts worker processes for budgets of this many seconds or more


_data: dict[str, Any] = {}  # a worker's copy of the training data


@dataclass(frozen=True)
class FoldJob:
    """Fit one configuration on one fold's training rows and score it on its test rows."""

    params: dict[str, Any]
    task: str
    seed: int
    train_rows: np.ndarray
    test_rows: np.ndarray
    deadline: float | None = None  # time.time() by which the fit stops, finished or not
    curve_bar: tuple[float, ...] | None = None  # prune a curve worse than this (PyTorch MLP)
    keep_predictions: bool = False  # return the held-out rows' predictions (ensembles)
    fraction: float = 1.0  # fit on this seeded share of the training rows (a halving rung)


def fit_fold(job: FoldJob, features: pd.DataFrame | None = None, y: Any = None) -> FoldOutcome:
    """The fold's scores (the worker's own copy of the data unless given)."""
    features = _data["features"] if features is None else features
    y = _data["y"] if y is None else y
    pipeline = make_pipeline(job.params, job.task, job.seed, features)
    train_rows = subsample(job.train_rows, y, job.fraction, job.seed, job.task)
    train_x, train_y = features.iloc[train_rows], y.iloc[train_rows]
    test_x, test_y = features.iloc[job.test_rows], y.iloc[job.test_rows]
    with one_thread():
        stopped = fit_within(pipeline, train_x, train_y, job.deadline, job.curve_bar)
        values = predict_values(pipeline, test_x, job.task)
        classes = list(getattr(pipeline, "classes_", [])) if job.task != "regression" else []
        labels = pipeline.predict(test_x) if job.task != "regression" else None
        has_proba = job.task == "regression" or hasattr(pipeline, "predict_proba")
        proba = values if has_proba else None
        if classes:  # scored against every class: a time-ordered fold may miss some
            every = sorted(pd.unique(y))
            proba = None if proba is None else _widened(proba, classes, every)
            scores = score_values(test_y, proba, job.task, every, labels)
        else:
            scores = score_values(test_y, proba, job.task, None, labels)
    curve = list(getattr(pipeline.steps[-1][1], "validation_curve_", []))
    kept = values.astype(np.float32) if job.keep_predictions else None
    return FoldOutcome(scores, stopped, curve, kept, classes)


def _widened(proba: np.ndarray, classes: list[Any], every: list[Any]) -> np.ndarray:
    """Probabilities in ``classes`` order as columns of ``every`` class (zero for those the
    fold's training rows lacked)."""
    if classes == every:
        return proba
    wide = np.zeros((len(proba), len(every)))
    for column, label in enumerate(classes):
        wide[:, every.index(label)] = proba[:, column]
    return wide


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One thread per fold for OpenMP/BLAS pools (HistGradientBoosting) and PyTorch: a fold
    is one unit of work on one core, and OpenMP threads that spin while anything else runs
    made a 0.05 s fit take 3 s here. More cores: ``executor="processes"``."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(1)
        with threadpool_limits(limits=1):
            yield
    finally:
        if torch is not None and threads is not None:
            torch.set_num_threads(threads)


def _remember(features: pd.DataFrame, y: Any) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker (see NOTES on OpenMP)
    _data.update(features=features, y=y)


class _Done(Future):  # type: ignore[type-arg]
    """A job run at once, in this process."""

    def __init__(self, result: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        if error is not None:
            self.set_exception(error)
        else:
            self.set_result(result)


class LocalExecutor:
    """One fold at a time, in this process."""

    workers = 1

    def __init__(self, features: pd.DataFrame, y: Any) -> None:
        self.features, self.y = features, y

    @classmethod
    def start(
        cls, features: pd.DataFrame, y: Any, workers: int | None, address: str | None
    ) -> LocalExecutor:
        return cls(features, y)

    def submit(self, job: FoldJob) -> Any:
        try:
            return _Done(fit_fold(job, self.features, self.y))
        except Exception as exc:  # delivered through the future, like the other executors
            return _Done(error=exc)

    def wait(self, pending: list[Any]) -> list[Any]:
        return [f for f in pending if f.done()]

    def result(self, handle: Any) -> FoldOutcome:
        return handle.result()  # type: ignore[no-any-return]

    def warm(self, families: tuple[str, ...]) -> None:
        warm_imports(families)

    def close(self) -> None:
        pass


def _warm_slowly(families: tuple[str, ...]) -> None:
    """A worker's warm-up: the imports, then long enough for its siblings to take theirs."""
    warm_imports(families)
    time.sleep(0.2)


class ProcessExecutor:
    """Folds of different trials at once, in local worker processes (one core each).

    The pool is loky's (joblib's, a scikit-learn dependency): fresh interpreters, so no
    forked threads or locks, which unlike ``multiprocessing``'s spawn never re-run the
    caller's ``__main__``, so a script needs no ``if __name__ == "__main__"`` guard."""

    def __init__(self, pool: Any, workers: int) -> None:
        self.pool, self.workers = pool, workers

    @classmethod
    def start(
        cls, features: pd.DataFrame, y: Any, workers: int | None, address: str | None
    ) -> ProcessExecutor:
        from joblib.externals.loky import ProcessPoolExecutor

        count = workers or usable_cores()
        pool = ProcessPoolExecutor(
            max_workers=count,
            initializer=_remember,
            initargs=(features, y),
            env={"OMP_NUM_THREADS": "1"},  # one core per worker, before NumPy loads
        )
        # Wait for every worker to start (seconds under load): otherwise the first trials'
        # durations include it, and the search thinks trials cost that much.
        wait([pool.submit(time.sleep, 0.2) for _ in range(count)])
        return cls(pool, count)

    def warm(self, families: tuple[str, ...]) -> None:
        """Each worker imports what the families' fits import slowly (``warm_imports``)."""
        wait([self.pool.submit(_warm_slowly, families) for _ in range(self.workers)])

    def submit(self, job: FoldJob) -> Any:
        return self.pool.submit(fit_fold, job)

    def wait(self, pending: list[Any]) -> list[Any]:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle: Any) -> FoldOutcome:
        return handle.result()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.pool.shutdown(wait=True, kill_workers=True)  # folds still running: stopped


class RayExecutor:
    """Folds of different trials at once, as tasks on a Ray cluster."""

    def __init__(self, ray: Any, data: Any, task: Any, workers: int) -> None:
        self.ray, self.data, self.task, self.workers = ray, data, task, workers

    @classmethod
    def start(
        cls, features: pd.DataFrame, y: Any, workers: int | None, address: str | None
    ) -> RayExecutor:
        """Join the cluster at ``address`` (or start one on 127.0.0.1) and share the data."""
        try:
            import ray
        except ImportError as exc:
            raise InvalidInput("executor='ray' needs Ray: pip install 'shipyard[ray]'.") from exc
        if not ray.is_initialized():
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                # a cluster started here is this machine's only: keep it on loopback
                _node_ip_address="127.0.0.1" if address is None else None,
            )
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        data = ray.put((features, y))
        task = ray.remote(num_cpus=1)(_fit_on_ray)
        return cls(ray, data, task, workers or max(1, int(cpus)))

    def submit(self, job: FoldJob) -> Any:
        return self.task.remote(job, self.data)

    def wait(self, pending: list[Any]) -> list[Any]:
        done, _ = self.ray.wait(pending, num_returns=1)
        return list(done)

    def result(self, handle: Any) -> FoldOutcome:
        return self.ray.get(handle)  # type: ignore[no-any-return]

    def close(self) -> None:
        pass  # the cluster outlives the search; ray.shutdown() is the caller's to call


class AutoExecutor:
    """``executor="auto"``: worker processes, one per usable core, when there are two or
    more, the budget is at least AUTO_BUDGET seconds (starting workers costs seconds) and
    no ``n_trials`` asks for a repeatable search; otherwise this process. The search
    chooses (``choose``) once it knows its budget."""

    workers = 1

    def __init__(self, features: pd.DataFrame, y: Any, workers: int | None) -> None:
        self.features, self.y, self.asked = features, y, workers

    @classmethod
    def start(
        cls, features: pd.DataFrame, y: Any, workers: int | None, address: str | None
    ) -> AutoExecutor:
        return cls(features, y, workers)

    def choose(self, time_budget: float, n_trials: int | None) -> Any:
        """The executor this search runs on."""
        cores = self.asked or usable_cores()
        if cores >= 2 and time_budget >= AUTO_BUDGET and n_trials is None:
            return ProcessExecutor.start(self.features, self.y, cores, None)
        return LocalExecutor(self.features, self.y)

    def close(self) -> None:
        pass


def warm_imports(families: tuple[str, ...]) -> None:
    """Import what the families' fits import lazily and slowly (PyTorch: seconds), so that
    the cost is paid before the first trial, where the search counts it, not inside a late
    trial, which would then end past the budget."""
    from shipyard.automl._torch_mlp import torch_available

    if "mlp" in families and torch_available():
        import torch  # noqa: F401


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS or Windows
        return os.cpu_count() or 1


def _fit_on_ray(job: FoldJob, data: tuple[pd.DataFrame, Any]) -> FoldOutcome:
    return fit_fold(job, *data)


def make_executor(
    name: str, features: pd.DataFrame, y: Any, workers: int | None, address: str | None
) -> Any:
    """An executor by name: ``auto``, ``local``, ``processes`` or ``ray``."""
    check_executor(name, workers)
    return _TABLE[name].start(features, y, workers, address)


def check_executor(name: str, workers: int | None) -> None:
    """InvalidInput for an unknown executor or fewer than one worker."""
    if name not in EXECUTORS:
        raise InvalidInput(f"executor must be one of {EXECUTORS}; got {name!r}.")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise InvalidInput(f"workers must be at least 1, got {workers!r}.")


# The executors by the name ``executor=`` takes; each one's ``start`` does the work (pools,
# cluster connections), its constructor only stores what ``start`` made.
_TABLE: dict[str, Any] = {
    "auto": AutoExecutor,
    "local": LocalExecutor,
    "processes": ProcessExecutor,
    "ray": RayExecutor,
}
EXECUTORS = tuple(_TABLE)

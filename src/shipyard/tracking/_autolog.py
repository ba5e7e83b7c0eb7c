"""Autologging for scikit-learn: every outermost ``fit`` of an estimator is tracked.

``sy.autolog()`` wraps the ``fit`` method of each scikit-learn estimator class. A fit
outside any run starts (and ends) a run of its own; inside a run it logs to that run, and a
further fit in the same run gets a child run (its params would clash with the first). Fits
made by other fits (a Pipeline's steps, a grid search's candidates) are not logged again.
Logged: the estimator's parameters, its class, the training time, the number of rows and
features, and the training score (``estimator.score(X, y)``) when ``y`` was given.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from shipyard import _validate as check
from shipyard.errors import ShipyardError
from shipyard.tracking._run import Run, active_run

#: Set while an autologged fit runs; a ContextVar so that workers that copy the context
#: (joblib threads in a grid search) see it too.
_inside: ContextVar[bool] = ContextVar("shipyard_autolog_inside", default=False)
_patched: dict[type, Any] = {}
_autologged: weakref.WeakSet[Run] = weakref.WeakSet()
log = logging.getLogger("shipyard.tracking")
_lock = threading.Lock()


def autolog(disable: bool = False, *, experiment: str | None = None, log_score: bool = True) -> int:
    """Turn scikit-learn autologging on (or off with ``disable=True``).

    Args:
        disable: remove the wrappers again.
        experiment: experiment of the runs that fits outside a run start (default "default").
        log_score: log ``training_score`` (costs one extra prediction pass on the data).

    Returns:
        The number of estimator classes patched (or restored).
    """
    from sklearn.utils import all_estimators

    with _lock:
        if disable:
            count = len(_patched)
            for cls, original in _patched.items():
                cls.fit = original  # type: ignore[attr-defined]
            _patched.clear()
            return count
        for _, estimator in all_estimators():
            # Patch the class that defines fit (GridSearchCV inherits it from BaseSearchCV).
            owner = next((c for c in estimator.__mro__ if "fit" in c.__dict__), None)
            if owner is None or owner in _patched:
                continue
            _patched[owner] = owner.__dict__["fit"]
            owner.fit = _wrap(_patched[owner], experiment, log_score)
        return len(_patched)


def _wrap(fit: Any, experiment: str | None, log_score: bool) -> Any:
    @functools.wraps(fit)
    def logged_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _inside.get():
            return fit(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            return _tracked_fit(fit, self, args, kwargs, experiment, log_score)
        finally:
            _inside.reset(token)

    return logged_fit


def _tracked_fit(
    fit: Any,
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    experiment: str | None,
    log_score: bool,
) -> Any:
    from shipyard.tracking._api import start_run

    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    name = f"{type(estimator).__name__.lower()}-fit"
    run = active_run()
    own = True
    if run is None:
        run = start_run(experiment=experiment or "default", name=name)
    elif run in _autologged:
        # A second fit in the same run would clash with the first one's params: child run.
        run = start_run(name=name, parent=run)
    else:
        own = False
    _autologged.add(run)
    try:
        params = {k: _param(v) for k, v in estimator.get_params(deep=False).items()}
        with _never_blocks_fit():
            run.log_params(params)
            run.set_tags(
                {
                    "estimator": f"{type(estimator).__module__}.{type(estimator).__name__}",
                    "autolog": "sklearn",
                }
            )
        started = time.perf_counter()
        result = fit(estimator, *args, **kwargs)
        with _never_blocks_fit():
            run.log_metric("fit_time", time.perf_counter() - started)
            shape = getattr(X, "shape", None)
            if shape is not None and len(shape) == 2:
                run.log_params({"training_rows": int(shape[0]), "training_features": int(shape[1])})
        if log_score and y is not None and hasattr(estimator, "score"):
            # A score that cannot be computed (e.g. unsupported targets) is skipped.
            with contextlib.suppress(Exception):
                run.log_metric("training_score", float(estimator.score(X, y)))
    except BaseException as exc:
        if own:
            run.end("killed" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    if own:
        run.end()
    return result


def _param(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars log as plain numbers
    plain = value is None or isinstance(value, (str, bool, int, float))
    text = value if plain else repr(value)
    if isinstance(text, str) and len(text) > check.MAX_PARAM_VALUE:
        return text[: check.MAX_PARAM_VALUE - 3] + "..."
    return text


@contextlib.contextmanager
def _never_blocks_fit() -> Iterator[None]:
    """Logging trouble (a param clashing with the run's, say) is reported, never fatal."""
    try:
        yield
    except ShipyardError as exc:
        log.warning("Autologging skipped a value: %s", exc)

"""The pipelines SDK: ``@pipeline``, and running, queueing, resuming and cancelling runs.

``@sy.pipeline`` makes a function whose body calls steps a :class:`Pipeline`; calling it
runs it (registering the version first: a version is the hash of the body's code and its
steps' code). ``run("retrain-loans", params={...})`` runs a registered pipeline by name,
importing its code from where it was registered (a module, or the script file: guard a
script's own runs with ``if __name__ == "__main__":``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from shipyard.config import get_settings
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.pipelines._executors import make_executor
from shipyard.pipelines._graph import Graph, build, building, check_name, code_hash
from shipyard.pipelines._http import refuse_remote, remote_pipelines
from shipyard.pipelines._params import json_params, load_params, store_params
from shipyard.pipelines._records import RUN_STATUSES, PipelineRun, PipelineVersion
from shipyard.pipelines._runner import Coordinator, Reuse, Watch, owner
from shipyard.pipelines._store import PipelineStore
from shipyard.pipelines._task import read_value
from shipyard.store import ArtifactStore, default_artifacts, default_database

__all__ = [
    "Pipeline",
    "cancel",
    "enqueue",
    "get_run",
    "list_pipelines",
    "list_runs",
    "lost",
    "pipeline",
    "register",
    "resume",
    "run",
    "run_queued",
    "step_output",
    "store",
    "versions",
]

#: A run whose heartbeat is older than this many seconds has lost its coordinator.
LOST_AFTER = 30.0


def store() -> PipelineStore:
    """The pipeline store on the default database (refused in remote mode: see ``_http``)."""
    refuse_remote("this pipelines function")
    return PipelineStore(default_database())


class Pipeline:
    """A function whose body wires steps into a DAG (see :func:`pipeline`)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        description: str | None,
        executor: str,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.description = description
        self.executor = executor
        # a stock pipeline's configuration (its registered parameters) is part of its
        # identity: the same body configured otherwise is another version
        self.config = dict(config) if config is not None else None
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self.__qualname__ = getattr(fn, "__qualname__", name)
        self.__module__ = getattr(fn, "__module__", __name__)
        self.__wrapped__ = fn
        self.body_hash = code_hash(fn)  # now: the body that builds its graph (see Step)

    def __call__(self, *args: Any, **kwargs: Any) -> PipelineRun:
        """Run the pipeline with these parameters and wait for it (a :class:`PipelineRun`)."""
        return run(self, params=self.bind(args, kwargs))

    def bind(
        self, args: tuple[Any, ...] = (), kwargs: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The parameters, defaults filled in (InvalidInput naming a bad one)."""
        try:
            bound = inspect.signature(self.fn).bind(*args, **(kwargs or {}))
        except TypeError as exc:
            raise InvalidInput(f"Pipeline {self.name!r}: bad parameters: {exc}.") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def graph(self, params: Mapping[str, Any] | None = None) -> Graph:
        """The DAG its body builds with ``params`` (nothing runs)."""
        return build(self.name, self.fn, self.bind((), params))

    def code_hash(self, graph: Graph) -> str:
        """The version's identity: its body's code and its steps' code."""
        steps = sorted({n.step.code_hash for n in graph.nodes.values()})
        parts: list[Any] = [self.body_hash, steps]
        if self.config is not None:
            parts.append(self.config)
        text = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def entry(self) -> str:
        return f"{self.__module__}:{self.__qualname__}"

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


def pipeline(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    executor: str = "local",
) -> Any:
    """Make a function a pipeline: ``@sy.pipeline`` or ``@sy.pipeline(name="retrain-loans")``.

    The body calls steps (``@sy.step`` functions); each call adds a step to the graph and
    gives back a placeholder for its output, which later calls take as inputs. Calling the
    decorated function runs the pipeline and returns its :class:`PipelineRun`.
    """

    def wrap(function: Callable[..., Any]) -> Pipeline:
        if not callable(function):
            raise InvalidInput(f"@pipeline decorates a function; got {function!r}.")
        label = name if name is not None else function.__name__.replace("_", "-")
        check_name(label, "pipeline name")
        doc = description if description is not None else inspect.getdoc(function)
        return Pipeline(function, label, doc, executor)

    return wrap if fn is None else wrap(fn)


def register(
    target: Pipeline, params: Mapping[str, Any] | None = None, created_by: str | None = None
) -> PipelineVersion:
    """Register a pipeline's current code as a version (the existing one when unchanged)."""
    if not isinstance(target, Pipeline):
        raise InvalidInput(f"register takes a @pipeline function; got {target!r}.")
    given = json_params(dict(params or {}))
    graph = target.graph(given)
    return _register(target, graph, given, created_by)


def _register(
    target: Pipeline, graph: Graph, params: Mapping[str, Any], created_by: str | None
) -> PipelineVersion:
    try:
        source = inspect.getsourcefile(target.fn)
    except TypeError:
        source = None
    return store().register(
        target.name,
        target.code_hash(graph),
        target.entry,
        source,
        graph.describe(),
        params,
        target.description,
        created_by,
    )


def load_pipeline(version: PipelineVersion) -> Pipeline:
    """The :class:`Pipeline` object of a registered version, imported from its code."""
    module_name, _, qualname = version.entry.partition(":")
    module = sys.modules.get(module_name)
    if module is None or (module_name == "__main__" and not hasattr(module, qualname)):
        module = _import(module_name, version.source_file, version.name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if isinstance(target, Pipeline):
        return target
    if callable(target):  # a stock pipeline's body, registered under its own name
        return Pipeline(target, version.name, None, "local", config=version.params)
    raise NotFound(
        f"Pipeline {version.name!r} was registered from {version.entry}, which is no longer "
        f"there. Register it again from its code."
    )


def _import(module_name: str, source_file: str | None, name: str) -> Any:
    if module_name != "__main__":
        try:
            return importlib.import_module(module_name)
        except ImportError as exc:
            if source_file is None:
                raise NotFound(
                    f"Pipeline {name!r} lives in module {module_name!r}, which cannot be "
                    f"imported here ({exc}). Run it where its code is."
                ) from None
    if source_file is None or not os.path.exists(source_file):
        raise NotFound(
            f"Pipeline {name!r} was defined in {source_file or 'an interactive session'}, "
            "which is not on this machine. Run it from its code (call the function)."
        )
    label = "shipyard_pipeline_" + hashlib.sha256(source_file.encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(label, source_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[label] = module
    sys.path.insert(0, os.path.dirname(os.path.abspath(source_file)))
    spec.loader.exec_module(module)
    return module


def _target(target: Pipeline | str) -> tuple[Pipeline, PipelineVersion | None]:
    if isinstance(target, Pipeline):
        return target, None
    if isinstance(target, str):
        version = store().version(target)
        return load_pipeline(version), version
    raise InvalidInput(f"pipeline must be a @pipeline function or a name; got {target!r}.")


def run(
    target: Pipeline | str,
    params: Mapping[str, Any] | None = None,
    *,
    executor: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    cache: bool = True,
    trigger: Mapping[str, Any] | None = None,
    watch: Watch | None = None,
) -> PipelineRun:
    """Run a pipeline (a ``@pipeline`` function or a registered name) and wait for it.

    Args:
        params: the pipeline's parameters (a registered pipeline's defaults fill the rest).
        executor: ``local`` (worker processes, the default) or ``ray`` (``address=`` of a
            cluster, else a local one).
        workers: steps run at once (default: the machine's CPUs; Ray: the cluster's).
        cache: reuse outputs of earlier identical steps (``False``: run every step).
        trigger: what started it (recorded on the run).
        watch: called with (step, status) as steps change.

    Returns:
        The finished :class:`PipelineRun` (``status`` succeeded, failed or cancelled).
    """
    if building():
        raise InvalidInput(
            f"Pipeline {getattr(target, 'name', target)!r} was run inside another pipeline's "
            "body, which only wires steps (nothing runs there); call its steps instead, or "
            "run it from inside a step."
        )
    pipe, version = _target(target)
    defaults = dict(version.params) if version is not None else {}
    bound = pipe.bind((), {**defaults, **dict(params or {})})
    graph = build(pipe.name, pipe.fn, bound)
    stored = store_params(bound)
    registered = _register(pipe, graph, defaults, None)
    kind = executor or pipe.executor
    options = {"cache": cache, "workers": workers, "address": address, "hashes": _hashes(graph)}
    runner = make_executor(kind, workers, address, _step_env())
    run_id = store().create_run(
        registered,
        list(graph.nodes),
        status="running",
        params=stored,
        trigger=trigger,
        executor=kind,
        options=options,
        owner=owner(),
    )
    return _coordinate(graph, run_id, runner, cache, None, watch)


def _hashes(graph: Graph) -> dict[str, str]:
    return {name: node.step.code_hash for name, node in graph.nodes.items()}


def _coordinate(
    graph: Graph,
    run_id: str,
    runner: Any,
    cache: bool,
    reuse: Mapping[str, Reuse] | None,
    watch: Watch | None,
) -> PipelineRun:
    pipelines = store()  # refused in remote mode: steps read and write a local store
    artifacts = default_artifacts()
    assert isinstance(artifacts, ArtifactStore)  # local, as store() checked
    cache_dir = str(get_settings().home / "cache")
    Coordinator(
        pipelines,
        graph,
        run_id,
        runner,
        (artifacts.root, cache_dir),
        cache=cache,
        reuse=reuse,
        watch=watch,
    ).run()
    return store().run(run_id)


def _step_env() -> dict[str, str]:
    """The environment of step processes: this one's, with its store settings spelled out."""
    settings = get_settings()
    env = dict(os.environ)
    env["SHIPYARD_HOME"] = str(settings.home)
    env["SHIPYARD_DB_URL"] = settings.db_url
    env["SHIPYARD_ARTIFACTS_URL"] = settings.artifacts_url
    return env


def enqueue(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    trigger: Mapping[str, Any] | None = None,
    executor: str | None = None,
) -> PipelineRun:
    """Queue a run of a registered pipeline for ``shipyard scheduler`` to run (on
    ``executor``, default the one the pipeline declares)."""
    if (remote := remote_pipelines()) is not None:
        return remote.enqueue(name, params)  # the server's scheduler runs it
    version = store().version(name)
    given = json_params({**version.params, **dict(params or {})})
    target = load_pipeline(version)
    target.bind((), given)  # refuse bad parameters now, not later
    executor = executor or target.executor
    make_executor(executor, None, None, {})  # and an unknown executor
    run_id = store().create_run(
        version,
        [],
        status="queued",
        params=given,
        trigger=trigger,
        executor=executor,
        options={"cache": True, "workers": None, "address": None},
    )
    return store().run(run_id)


def run_queued(run_id: str, watch: Watch | None = None) -> PipelineRun | None:
    """Claim a queued run and run it here; None when another claimer took it first."""
    pipelines = store()
    if not pipelines.claim(run_id, owner()):
        pipelines.run(run_id)  # NotFound for an id that names no run
        return None
    queued = pipelines.run(run_id)
    try:
        pipe = load_pipeline(pipelines.version_of(run_id))
        graph = build(pipe.name, pipe.fn, pipe.bind((), load_params(queued.params)))
    except Exception as exc:
        pipelines.finish(run_id, "failed", f"could not build the graph: {exc}", [])
        return pipelines.run(run_id)
    pipelines.add_steps(run_id, list(graph.nodes), _hashes(graph))
    options = queued.options
    runner = make_executor(
        queued.executor, options.get("workers"), options.get("address"), _step_env()
    )
    return _coordinate(graph, run_id, runner, bool(options.get("cache", True)), None, watch)


def resume(run_id: str, *, executor: str | None = None, watch: Watch | None = None) -> PipelineRun:
    """Run a failed (or cancelled) run again as a new run: steps that finished are reused,
    the failed ones and what depends on them run (with the pipeline's current code: a step
    whose code changed since runs again, and what depends on it)."""
    pipelines = store()
    run_id = pipelines.full_id(run_id)
    old = pipelines.run(run_id)
    if old.status == "running" and lost(old):
        pipelines.mark_lost(run_id, "its coordinator stopped (no heartbeat)")
        old = pipelines.run(run_id)
    if old.status not in ("failed", "cancelled"):
        raise Conflict(f"Run {run_id} is {old.status}; only a failed or cancelled run resumes.")
    before = pipelines.version_of(run_id)
    pipe = load_pipeline(before)
    graph = build(pipe.name, pipe.fn, pipe.bind((), load_params(old.params)))
    registered = _register(pipe, graph, before.params, None)
    hashes = {n["name"]: n["code_hash"] for n in before.graph}
    hashes.update(old.options.get("hashes") or {})
    reuse = {
        name: Reuse(row["source_run"] or run_id if row["status"] == "reused" else run_id, row)
        for name, row in pipelines.done_steps(run_id).items()
        if name in graph.nodes and hashes.get(name) == graph.nodes[name].step.code_hash
    }
    _runs_again_below(graph, reuse)
    kind = executor or old.executor
    options = {**old.options, "hashes": _hashes(graph)}
    runner = make_executor(kind, options.get("workers"), options.get("address"), _step_env())
    new_id = pipelines.create_run(
        registered,
        list(graph.nodes),
        status="running",
        params=old.params,
        trigger={"kind": "resume", "run": run_id},
        executor=kind,
        options=options,
        resumed_from=run_id,
        owner=owner(),
    )
    return _coordinate(graph, new_id, runner, bool(options.get("cache", True)), reuse, watch)


def _runs_again_below(graph: Graph, reuse: dict[str, Reuse]) -> None:
    """Drop from ``reuse`` every step below one that runs again (its inputs may change:
    with the cache on, it is a cache hit when they did not)."""
    dropped = True
    while dropped:
        below = [n for n in reuse if any(up not in reuse for up in graph.nodes[n].upstream)]
        for name in below:
            del reuse[name]
        dropped = bool(below)


def lost(run: PipelineRun) -> bool:
    """Whether a running run's coordinator is gone: its process on this machine ended, or
    its heartbeat is older than :data:`LOST_AFTER` seconds."""
    if run.status != "running":
        return False
    host, _, pid = (run.owner or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return time.time() - (run.heartbeat_at or run.created_at) > LOST_AFTER


def cancel(run_id: str) -> PipelineRun:
    """Cancel a queued run now, or ask a running one to stop (its running steps are killed);
    a running run whose coordinator is gone (:func:`lost`) is cancelled now."""
    if (remote := remote_pipelines()) is not None:
        return remote.cancel(run_id)
    pipelines = store()
    run_id = pipelines.full_id(run_id)
    if lost(pipelines.run(run_id)):
        pipelines.mark_lost(run_id, "cancelled (its coordinator had stopped)", "cancelled")
        return pipelines.run(run_id)
    return pipelines.request_cancel(run_id)


def get_run(run_id: str) -> PipelineRun:
    """A run with its steps (``run_id``: the id or a unique prefix of six characters or more)."""
    if (remote := remote_pipelines()) is not None:
        return remote.get_run(run_id)
    pipelines = store()
    return pipelines.run(pipelines.full_id(run_id))


def list_runs(
    pipeline: str | None = None, status: str | None = None, limit: int = 50
) -> list[PipelineRun]:
    """Runs, newest first (``pipeline`` and ``status`` filter)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise InvalidInput(f"limit must be 1 to 10000; got {limit!r}.")
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(RUN_STATUSES)}; got {status!r}.")
    if (remote := remote_pipelines()) is not None:
        return remote.list_runs(pipeline, status, limit)
    return store().runs(pipeline, status, limit)


def list_pipelines() -> list[dict[str, Any]]:
    """Every registered pipeline with its version count and last run."""
    if (remote := remote_pipelines()) is not None:
        return remote.list_pipelines()
    return store().pipelines()


def get_pipeline(ref: str) -> PipelineVersion:
    """A registered version: ``name`` (the latest), ``name@3`` or ``name@alias``."""
    if (remote := remote_pipelines()) is not None:
        return remote.get_pipeline(ref)
    return store().version(ref)


def versions(name: str) -> list[PipelineVersion]:
    """A registered pipeline's versions, newest first."""
    return remote.versions(name) if (remote := remote_pipelines()) else store().versions(name)


def step_output(run_id: str, step: str) -> Any:
    """What a step returned in a run, read back from the store."""
    pipelines = store()
    return read_value(pipelines.output(pipelines.full_id(run_id), step), default_artifacts())

"""The coordinator of one run: it walks the graph, runs each step whose inputs are ready on
the executor (independent branches at once, up to its slots), reuses cached outputs,
retries with exponential back-off, kills attempts past their timeout, honours a cancel,
and records every step in the store.

A step's cache key is the sha256 of its code hash and the identity of each argument (an
upstream output's digest, a constant's digest); with caching on, a step whose key matches
an earlier successful step run is not run again: its output is reused (status ``cached``).
A resumed run reuses the outputs its failed predecessor finished (status ``reused``).
When a step fails for good, what depends on it is ``skipped`` and the rest goes on; the
run then fails naming the first step that failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from shipyard.pipelines._executors import Executor
from shipyard.pipelines._graph import Graph, Node, Output, outputs_in
from shipyard.pipelines._records import DONE
from shipyard.pipelines._store import PipelineStore, stored_of
from shipyard.pipelines._task import Task, TaskResult
from shipyard.pipelines._values import Stored, dump
from shipyard.store import ArtifactStore

__all__ = ["Coordinator", "Reuse", "owner"]

#: Seconds between heartbeats (step rows are written with them).
BEAT = 0.25
#: The longest back-off between attempts.
MAX_DELAY = 300.0

Watch = Callable[[str, str], None]  # (step, new status)


def owner() -> str:
    """Who runs a run: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Reuse:
    """A finished step of an earlier run that a resumed run takes as it is."""

    run_id: str
    row: Mapping[str, Any]


@dataclass
class _State:
    status: str = "pending"
    attempts: int = 0
    started: float | None = None
    deadline: float | None = None
    retry_at: float | None = None
    cache_key: str | None = None
    error: str | None = None
    logs: list[str] = field(default_factory=list)


class Coordinator:
    """Runs one run's graph to the end on an executor (see the module docstring)."""

    def __init__(
        self,
        store: PipelineStore,
        graph: Graph,
        run_id: str,
        executor: Executor,
        artifacts: tuple[str, str | None],
        *,
        cache: bool = True,
        reuse: Mapping[str, Reuse] | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.store = store
        self.graph = graph
        self.run_id = run_id
        self.executor = executor
        self.artifacts = artifacts
        self.cache = cache
        self.reuse = dict(reuse or {})
        self.watch = watch

    def run(self) -> str:
        """Run every step that can run; the run's final status ("succeeded", "failed" or
        "cancelled"). The run row is ended whatever happens, a ``KeyboardInterrupt``
        included (the run is then cancelled and the interrupt raised again)."""
        self._setup()
        try:
            status = self._loop()
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            why = "interrupted" if interrupted else f"the coordinator stopped: {exc!r}"
            self._abort("cancelled" if interrupted else "failed", why)
            raise
        finally:
            self.executor.close()
        return status

    # -- set-up --------------------------------------------------------------------------

    def _setup(self) -> None:
        self.states = {name: _State() for name in self.graph.nodes}
        self.outputs: dict[str, Stored] = {}
        self.waiting = {name: set(n.upstream) for name, n in self.graph.nodes.items()}
        self.below = self.graph.downstream()
        self.changed: dict[str, dict[str, Any]] = {}
        self.functions: dict[int, bytes] = {}
        self.constants: dict[int, str] = {}
        self.failed_first: str | None = None
        self.last_beat = 0.0
        self.cancelled = False
        self._blobs: ArtifactStore | None = None

    # -- the loop ----------------------------------------------------------------------

    def _loop(self) -> str:
        while True:
            while self._start_ready():
                pass
            running = [n for n, s in self.states.items() if s.status == "running"]
            delayed = [s.retry_at for s in self.states.values() if s.retry_at is not None]
            if not running and not delayed:
                break
            timeout = self._timeout(running, delayed)
            if not running:  # only back-offs: nothing can finish meanwhile, so sleep
                time.sleep(timeout)
            for result in self.executor.wait(timeout) if running else []:
                self._finished(result)
            self._expire()
            if self._beat():
                self._cancel()
                break
        return self._end()

    def _timeout(self, running: list[str], delayed: list[float]) -> float:
        now = time.monotonic()
        marks = [self.last_beat + BEAT, *delayed]
        marks += [d for n in running if (d := self.states[n].deadline) is not None]
        return max(0.0, min(marks) - now)

    def _start_ready(self) -> bool:
        """Start (or take from the cache) every step whose inputs are ready; whether one was
        taken without running (it may free a step seen earlier in this pass)."""
        now = time.monotonic()
        busy = sum(1 for s in self.states.values() if s.status == "running")
        taken = False
        for name, state in self.states.items():
            if state.status != "pending" or self.waiting[name]:
                continue
            if state.retry_at is not None and state.retry_at > now:
                continue
            node = self.graph.nodes[name]
            if state.attempts == 0 and self._take_earlier(node, state):
                taken = True
                continue
            if busy >= self.executor.slots:
                continue
            self._submit(node, state)
            busy += 1
        return taken

    def _take_earlier(self, node: Node, state: _State) -> bool:
        """Reuse (resume) or a cache hit: the step is done without running."""
        earlier = self.reuse.get(node.name)
        if earlier is not None and self._kept(stored_of(earlier.row)):
            self._done(node.name, stored_of(earlier.row), "reused", earlier.run_id, earlier.row)
            return True
        if not (self.cache and node.step.options.cache) or state.cache_key is not None:
            return False  # (a key means it was looked up: a ready step waiting for a slot)
        state.cache_key = self._cache_key(node)
        hit = self.store.cached(state.cache_key)
        if hit is None or not self._kept(stored_of(hit[1])):
            return False
        self._done(node.name, stored_of(hit[1]), "cached", hit[0], hit[1])
        return True

    def _kept(self, stored: Stored) -> bool:
        """Whether an earlier output can still be read (its blob may have been deleted from
        the artifact store since: then the step runs again instead)."""
        if stored.inline is not None:
            return True
        if self._blobs is None:
            self._blobs = ArtifactStore(self.artifacts[0], cache_dir=self.artifacts[1])
        return self._blobs.exists(stored.digest)

    def _cache_key(self, node: Node) -> str:
        # the arguments apart from the code: an argument named "code" must not replace it
        arguments = {
            key: self._identity(value, f"argument {key!r} of step {node.name!r}")
            for key, value in node.arguments.items()
        }
        parts = {"code": node.step.code_hash, "arguments": arguments}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _identity(self, value: Any, what: str) -> Any:
        if isinstance(value, Output):
            return [self.outputs[value.node].digest, list(value.items)]
        if isinstance(value, (list, tuple)) and any(True for _ in outputs_in(value)):
            return [self._identity(v, what) for v in value]
        if isinstance(value, dict) and any(True for _ in outputs_in(value)):
            return {str(k): self._identity(v, what) for k, v in value.items()}
        cached = self.constants.get(id(value))
        if cached is None:
            cached = dump(value, what)[0].digest
            self.constants[id(value)] = cached
        return cached

    def _submit(self, node: Node, state: _State) -> None:
        state.attempts += 1
        state.status = "running"
        state.retry_at = None
        state.started = state.started or time.time()
        timeout = node.step.options.timeout
        state.deadline = None if timeout is None else time.monotonic() + timeout
        task = Task(
            run_id=self.run_id,
            node=node.name,
            attempt=state.attempts,
            function=self._function(node),
            arguments=cloudpickle.dumps(node.arguments),
            inputs={up: self.outputs[up].to_json() for up in node.upstream if up in self.outputs},
            artifacts_url=self.artifacts[0],
            cache_dir=self.artifacts[1],
        )
        self.executor.submit(task, node.step.options.cpus, node.step.options.memory)
        self._changed(node.name, state)

    def _function(self, node: Node) -> bytes:
        key = id(node.step)
        if key not in self.functions:
            # the Step itself, an instance: cloudpickle writes its function by value (so
            # a worker runs the code in memory here, which is what its code hash is of)
            self.functions[key] = cloudpickle.dumps(node.step)
        return self.functions[key]

    # -- results -------------------------------------------------------------------------

    def _finished(self, result: TaskResult) -> None:
        state = self.states[result.node]
        if state.status != "running":
            return
        if result.logs:
            state.logs.append(result.logs)
        if result.ok and result.output is not None:
            extra = {"tracking_run_id": result.tracking_run_id, "links": result.links}
            self._done(result.node, Stored.from_json(result.output), "succeeded", None, extra)
            return
        self._failed(result.node, state, result.error or "the step failed")

    def _failed(self, name: str, state: _State, error: str) -> None:
        node = self.graph.nodes[name]
        state.error = f"attempt {state.attempts}: {error}"
        if state.attempts <= node.step.options.retries:
            delay = min(MAX_DELAY, node.step.options.retry_delay * 2 ** (state.attempts - 1))
            state.status = "pending"
            state.retry_at = time.monotonic() + delay
            state.deadline = None
            self._changed(name, state, status="retrying")
            return
        state.status = "failed"
        state.deadline = None
        self.failed_first = self.failed_first or name
        self._changed(name, state, ended=True)
        self._skip_below(name)

    def _skip_below(self, name: str) -> None:
        """Skip what depends on a failed step (a loop: a chain may be thousands deep)."""
        stack = list(reversed(self.below[name]))
        while stack:
            child = stack.pop()
            child_state = self.states[child]
            if child_state.status == "pending":
                child_state.status = "skipped"
                child_state.error = f"skipped: {name!r} failed"
                self._changed(child, child_state)
                stack += reversed(self.below[child])

    def _expire(self) -> None:
        now = time.monotonic()
        for name, state in self.states.items():
            if state.status == "running" and state.deadline is not None and state.deadline <= now:
                timeout = self.graph.nodes[name].step.options.timeout
                killed = self.executor.kill(name, f"timed out after {timeout:g} s")
                if killed is not None:
                    self._failed(name, state, killed.error or "timed out")

    def _done(
        self,
        name: str,
        stored: Stored,
        status: str,
        source_run: str | None,
        extra: Mapping[str, Any],
    ) -> None:
        state = self.states[name]
        state.status = status
        state.deadline = None
        self.outputs[name] = stored
        if status != "succeeded":
            state.started = state.started or time.time()
        self._changed(
            name,
            state,
            ended=True,
            output=stored,
            source_run=source_run,
            tracking_run_id=extra.get("tracking_run_id"),
            links=extra.get("links"),
        )
        for child in self.below[name]:
            self.waiting[child].discard(name)

    def _changed(self, name: str, state: _State, *, ended: bool = False, **values: Any) -> None:
        output: Stored | None = values.pop("output", None)
        row = self.changed.setdefault(name, {"step": name})
        row.update(
            status=values.pop("status", state.status),
            attempts=state.attempts,
            cache_key=state.cache_key,
            started_at=state.started,
            error=state.error if state.status not in DONE else None,
            logs="".join(state.logs)[-64 * 1024 :] or None,
        )
        if ended:
            row["ended_at"] = time.time()
        if output is not None:
            row.update(
                output_kind=output.kind,
                output_digest=output.digest,
                output_size=output.size,
                output_inline=output.inline,
                output_meta=output.meta,
            )
        for key, value in values.items():
            if value is not None and (key != "links" or value):
                row[key] = value
        if self.watch is not None:
            self.watch(name, row["status"])

    # -- heartbeats, cancel, end ---------------------------------------------------------

    def _beat(self) -> bool:
        """Write what changed when a beat is due; whether a cancel was asked."""
        now = time.monotonic()
        if now - self.last_beat < BEAT:
            return False
        self.last_beat = now
        rows = self._take_changes()
        return self.store.beat(self.run_id, rows)

    def _take_changes(self) -> list[dict[str, Any]]:
        rows = [self._complete(r) for r in self.changed.values()]
        self.changed = {}
        return rows

    def _complete(self, row: dict[str, Any]) -> dict[str, Any]:
        return row if "ended_at" in row else {**row, "ended_at": None}

    def _cancel(self) -> None:
        self.cancelled = True
        for name, state in self.states.items():
            if state.status == "running":
                self.executor.kill(name, "cancelled")
            if state.status in ("running", "pending"):
                state.status = "cancelled"
                state.retry_at = None
                self._changed(name, state, ended=True)

    def _end(self) -> str:
        if self.cancelled:
            status, error = "cancelled", "cancelled"
        elif self.failed_first is not None:
            state = self.states[self.failed_first]
            status, error = "failed", f"step {self.failed_first!r} failed: {state.error}"
        else:
            status, error = "succeeded", None
        self.store.finish(self.run_id, status, error, self._take_changes())
        return status

    def _abort(self, status: str, why: str) -> None:
        for name, state in self.states.items():
            if state.status in ("running", "pending"):
                state.status = "cancelled" if status == "cancelled" else "failed"
                state.error = why
                self._changed(name, state, ended=True)
        # the store may be what failed: then the original error matters more
        with contextlib.suppress(Exception):
            self.store.finish(self.run_id, status, why, self._take_changes())

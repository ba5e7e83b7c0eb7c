"""Pipelines in remote mode (``SHIPYARD_URL``): registered pipelines, runs and schedules are
read through the platform server's pipelines routes, and a run is queued or cancelled there
(the server's ``shipyard scheduler`` runs it, where the pipeline's code is). Registering and
running a pipeline in this process stay local: the code is here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import quote

from shipyard._time import epoch
from shipyard.errors import InvalidInput, NotFound
from shipyard.pipelines._records import PipelineRun, PipelineVersion, StepRun
from shipyard.pipelines._schedule_store import Schedule
from shipyard.store import RemoteClient

__all__ = ["RemotePipelines", "refuse_remote", "remote_pipelines"]

_RUN_TIMES = ("created_at", "started_at", "ended_at", "heartbeat_at")
_MOST = 10_000


def remote_pipelines() -> RemotePipelines | None:
    """The platform server's pipelines in remote mode, else None (the local store)."""
    from shipyard.config import get_settings

    if not get_settings().remote:
        return None
    from shipyard.store import remote_client

    return RemotePipelines(remote_client())


def refuse_remote(what: str) -> None:
    """InvalidInput in remote mode for what only works on a local store."""
    from shipyard.config import get_settings

    if get_settings().remote:
        raise InvalidInput(
            f"{what} works on a local store only: unset SHIPYARD_URL (or run it on the "
            "server's host)."
        )


def _keep(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def step_of(data: Mapping[str, Any], logs: str | None) -> StepRun:
    values = _keep(StepRun, data)
    values["started_at"] = epoch(values.get("started_at"))
    values["ended_at"] = epoch(values.get("ended_at"))
    values["links"] = tuple(values.get("links") or ())
    values["logs"] = logs
    return StepRun(**values)


def run_of(data: Mapping[str, Any], steps: tuple[StepRun, ...] = ()) -> PipelineRun:
    values = _keep(PipelineRun, data)
    for key in _RUN_TIMES:
        values[key] = epoch(values.get(key))
    values["created_at"] = values["created_at"] or 0.0
    values["steps"] = steps
    return PipelineRun(**values)


class RemotePipelines:
    """The pipelines of a platform server, as the local functions return them."""

    def __init__(self, client: RemoteClient) -> None:
        self.client = client

    def list_pipelines(self) -> list[dict[str, Any]]:
        return [
            {
                **p,
                "created_at": epoch(p.get("created_at")),
                "last_run_at": epoch(p.get("last_run_at")),
            }
            for p in self.client.pages("/api/pipelines")
        ]

    def get_pipeline(self, ref: str) -> PipelineVersion:
        data = self.client.get(f"/api/pipelines/{quote(ref, safe='@')}")
        values = _keep(PipelineVersion, data)
        values["created_at"] = epoch(values["created_at"]) or 0.0
        values["aliases"] = tuple(values.get("aliases") or ())
        return PipelineVersion(**values)

    def versions(self, name: str) -> list[PipelineVersion]:
        """Every version, newest first: the latest, then each number below it."""
        latest = self.get_pipeline(name)
        found = [latest]
        for number in range(latest.version - 1, 0, -1):
            try:
                found.append(self.get_pipeline(f"{latest.name}@{number}"))
            except NotFound:  # a version number that was never kept
                continue
        return found

    def list_runs(self, pipeline: str | None, status: str | None, limit: int) -> list[PipelineRun]:
        found: list[PipelineRun] = []
        pages = self.client.pages(
            "/api/pipeline-runs", pipeline=pipeline, status=status, page_size=min(limit, 1000)
        )
        for item in pages:
            found.append(run_of(item))
            if len(found) >= min(limit, _MOST):
                break
        return found

    def get_run(self, run_id: str) -> PipelineRun:
        data = self.client.get(f"/api/pipeline-runs/{quote(run_id, safe='')}")
        steps = tuple(
            step_of(s, self._logs(data["id"], s["name"])) for s in data.get("steps") or ()
        )
        return run_of(data, steps)

    def _logs(self, run_id: str, step: str) -> str | None:
        path = f"/api/pipeline-runs/{run_id}/steps/{quote(step, safe='')}/logs"
        with self.client.stream("GET", path) as response:
            text = response.read().decode("utf-8", "replace")
        return text or None

    def enqueue(self, name: str, params: Mapping[str, Any] | None) -> PipelineRun:
        body = {"params": dict(params) if params is not None else None}
        return run_of(self.client.post(f"/api/pipelines/{quote(name, safe='')}/runs", json=body))

    def cancel(self, run_id: str) -> PipelineRun:
        return run_of(self.client.post(f"/api/pipeline-runs/{quote(run_id, safe='')}/cancel"))

    def list_schedules(self, pipeline: str) -> list[Schedule]:
        found = []
        for item in self.client.pages(f"/api/pipelines/{quote(pipeline, safe='')}/schedules"):
            values = _keep(Schedule, item)
            values["created_at"] = epoch(values["created_at"]) or 0.0
            found.append(Schedule(**values))
        return found

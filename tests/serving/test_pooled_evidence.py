"""Evidence pooled across workers and replicas over one SQLite metadata store, with and
without Redis: every reward counted once whichever process answered or received it (a
``shipyard serve --workers 2`` process and a replica), a wrong candidate rolled back on
labels posted through both replicas, labels counted in the step their request was answered
in. Replicas are ``shipyard serve`` processes, or servers in threads of this process (each
its own service, store connections and pool)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard import serving
from shipyard.config import reset_settings
from shipyard.serving import deployments
from shipyard.serving._evidence_backends import open_evidence
from shipyard.store import default_database
from shipyard.testing.servers import LOAN_ROW, serve_processes

ROW = LOAN_ROW


@pytest.fixture(params=["sql", "redis"])
def pooled(request: pytest.FixtureRequest, store: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the servers pool their evidence: the metadata store, or Redis."""
    if request.param == "redis":
        monkeypatch.setenv("SHIPYARD_REDIS_URL", request.getfixturevalue("redis_url"))
    else:
        monkeypatch.delenv("SHIPYARD_REDIS_URL", raising=False)
    reset_settings()
    return str(request.param)


@pytest.fixture
def deployment(store: Path) -> Iterator[Callable[..., Any]]:
    made: list[str] = []

    def create(name: str, routes: dict[str, str], **params: Any) -> Any:
        made.append(name)
        return deployments.create(name, routes, **params)

    yield create
    for name in made:
        deployments.delete(name)


def wait_for(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def replicas(start_server: Callable[[Any], Any], name: str, count: int = 2) -> list[str]:
    """``count`` servers of deployment ``name`` in threads of this process (each its own
    service, store connections and pool, as separate replicas have); their URLs."""
    apps = [serving.create_app(deployment=name, poll=0.1, log_sample=0) for _ in range(count)]
    return [start_server(app).url for app in apps]


# a new connection for every request, so that a server's workers share them
HTTP = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def predict(url: str) -> dict[str, Any]:
    answer = HTTP.post(url + "/predict", json=ROW)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def post(url: str, items: list[dict[str, Any]]) -> dict[str, int]:
    answer = HTTP.post(url + "/feedback", json=items)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_every_reward_counts_once_across_workers_and_replicas(
    pooled: str, deployment: Callable[..., Any], start_server: Any
) -> None:
    deployment("pooled-bandit", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, policy="bandit")
    with serve_processes("pooled-bandit", (2,)) as (workers,):
        (replica,) = replicas(start_server, "pooled-bandit", 1)
        matched, rewards, answers = 0, 0.0, []
        for round in range(10):
            batch = [predict(workers if i % 2 else replica) for i in range(30)]
            answers += batch
            items = [{"id": a["id"], "reward": float(a["version"] == 2)} for a in batch]
            rewards += sum(i["reward"] for i in items)
            matched += post(replica if round % 2 else workers, items)["matched"]
        assert matched == 300  # every ticket found, whichever process answered it

        def pooled() -> tuple[int, int, float]:
            stats = deployments.statistics("pooled-bandit").values()
            return (
                sum(s.requests for s in stats),
                sum(s.rewarded for s in stats),
                sum(s.rewards for s in stats),
            )

        wait_for(lambda: pooled() == (300, 300, rewards))
        again = post(workers, [{"id": a["id"], "reward": 1.0} for a in answers])
        assert again == {"accepted": 300, "matched": 300}
        time.sleep(1.0)  # five syncs
        assert pooled() == (300, 300, rewards)  # once each, however often posted
    assert Counter(a["version"] for a in answers[-100:])[2] > 80  # the bandit learned


def test_a_wrong_candidate_is_rolled_back_on_labels_posted_through_both_replicas(
    pooled: str, deployment: Callable[..., Any]
) -> None:
    deployment(
        "pooled-wrong", {"stable": "loans-gbm@1", "new": "loans-gbm@2"}, policy="canary",
        steps=[20, 50, 100], step_requests=40, min_labels=10, max_latency_ratio=1000.0,
    )  # fmt: skip
    with serve_processes("pooled-wrong", (1, 1)) as urls:  # two replicas
        for _ in range(150):  # ten answers, then their labels, through the other replica
            answers = [predict(urls[i % 2]) for i in range(10)]
            items = [  # the candidate (version 2) is always wrong
                {"id": a["id"], "label": a["predictions"][0] ^ (a["version"] == 2)} for a in answers
            ]
            fed = post(urls[1], items[::2])["matched"] + post(urls[0], items[1::2])["matched"]
            assert fed == 10
            if deployments.get("pooled-wrong").policy["status"] != "running":
                break
    kinds = [e.kind for e in deployments.history("pooled-wrong")]
    assert kinds[0] == "canary-rolled-back" and "canary-promoted" not in kinds
    why = deployments.history("pooled-wrong")[0].detail["evidence"]["why"]
    assert "accuracy" in why


def test_labels_count_in_the_step_their_request_was_answered_in(
    pooled: str, deployment: Callable[..., Any], start_server: Any
) -> None:
    deployment(
        "pooled-steps", {"stable": "loans-gbm@1", "new": "loans-gbm@2"}, policy="canary",
        steps=[20, 50, 100], step_requests=20, min_labels=10**6, max_latency_ratio=1000.0,
    )  # fmt: skip
    urls = replicas(start_server, "pooled-steps")
    first: list[dict[str, Any]] = []
    while deployments.get("pooled-steps").policy["step"] == 0:
        first.append(predict(urls[len(first) % 2]))
        assert len(first) < 1000
    # step 1 now: label every request of step 0, late, through the other process
    items = [{"id": a["id"], "label": a["predictions"][0]} for a in first]
    assert post(urls[1], items[::2])["matched"] + post(urls[0], items[1::2])["matched"] == len(
        items
    )
    evidence = open_evidence(default_database())
    deployment_id = deployments.get("pooled-steps").id
    where = Counter(evidence.lookup(deployment_id, [a["id"] for a in first]).values())
    assert sum(where.values()) == len(first) and len({p for _, p in where}) >= 1

    def labelled() -> dict[tuple[str, str], int]:
        return {k: s.labelled for k, s in evidence.totals(deployment_id, where).items()}

    wait_for(lambda: labelled() == dict(where))
    totals = evidence.totals(deployment_id, where)
    evidence.close()
    for key, count in where.items():  # each label in its request's own step, none carried
        assert totals[key].requests == totals[key].labelled == totals[key].correct == count
    now = deployments.statistics("pooled-steps")  # step 1: only what was answered in it
    assert sum(s.labelled for s in now.values()) == sum(s.requests for s in now.values())
    assert sum(s.requests for s in now.values()) < len(first) / 2

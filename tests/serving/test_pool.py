"""Two services of one deployment sharing an evidence store, driven directly: each sees
both's requests after a sync and never counts them twice; feedback posted to one for the
other's request is matched and counted once, in its own period."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shipyard.serving import deployments
from shipyard.serving._evidence import InProcessEvidence
from shipyard.serving._service import InferenceService
from shipyard.testing.servers import LOAN_ROW

ROW = LOAN_ROW


def test_two_services_pool_their_evidence_without_counting_twice(store: Path) -> None:
    deployments.create("pool-ab", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, policy="bandit")
    shared = InProcessEvidence()
    one, two = (
        InferenceService.create(deployment="pool-ab", poll=0, log_sample=0, evidence=shared)
        for _ in range(2)
    )

    async def steps() -> None:
        await one.start()
        await two.start()
        try:
            answers = [await one.infer(ROW) for _ in range(5)]
            answers += [await two.infer(ROW) for _ in range(3)]
            for _ in range(2):  # a second round pulls the same totals: nothing added twice
                for service in (one, two, one):
                    await service.pool.sync()
                for service in (one, two):
                    assert sum(s.requests for s in service.stats.values()) == 8
            items = [{"id": a.request_id, "reward": 1.0} for a in answers[:5]]
            assert await two.feedback(items) == {"accepted": 5, "matched": 5}
            assert await one.feedback(items[:2]) == {"accepted": 2, "matched": 2}
            for service in (two, one, two):
                await service.pool.sync()
            for service in (one, two):
                assert sum(s.rewarded for s in service.stats.values()) == 5
                assert sum(s.requests for s in service.stats.values()) == 8
        finally:
            await one.stop()
            await two.stop()

    try:
        asyncio.run(steps())
    finally:
        deployments.delete("pool-ab")

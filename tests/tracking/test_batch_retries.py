"""Remote mode: a metric batch whose write reached the server but whose answer was lost
(a dropped connection, a timeout) is sent again by the run under the same batch id, and the
server keeps its points once. A small TCP proxy between the SDK and a real platform server
forwards a request and then drops the connection instead of the answer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import shipyard as sy
from shipyard.config import reset_settings
from shipyard.errors import Unavailable
from shipyard.testing.proxy import FaultyProxy


@pytest.fixture
def proxy(
    platform_server: str, home: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultyProxy]:
    """Remote mode through a :class:`FaultyProxy` in front of the module's server."""
    losing = FaultyProxy(platform_server)
    monkeypatch.setenv("SHIPYARD_URL", losing.start())
    reset_settings()
    try:
        yield losing
    finally:
        reset_settings()
        losing.close()


def _logged(run: sy.Run, key: str, n: int) -> None:
    for i in range(n):
        run.log_metric(key, i * 0.5, step=i)


def test_a_flush_whose_answer_is_lost_is_stored_once(proxy: FaultyProxy) -> None:
    run = sy.start_run(experiment="lost-answers")
    _logged(run, "loss", 1000)
    proxy.lose_answer("/metrics")
    with pytest.raises(Unavailable, match="cannot reach the server"):
        run.flush()
    assert proxy.lost == 1
    _logged(run, "acc", 10)  # logged meanwhile: goes in a batch of its own
    run.flush()  # the same batch again, same id: answered as done
    run.end()
    data = sy.get_run(run.id)
    assert (data.metrics["loss"].count, data.metrics["acc"].count) == (1000, 10)
    assert [p.step for p in sy.get_metric_history(run.id, "loss")] == list(range(1000))


def test_a_finish_whose_answer_is_lost_is_stored_once(proxy: FaultyProxy) -> None:
    run = sy.start_run(experiment="lost-answers")
    _logged(run, "loss", 500)
    proxy.lose_answer("/finish")
    with pytest.raises(Unavailable, match="cannot reach the server"):
        run.end()
    assert proxy.lost == 1 and sy.get_run(run.id).info.status == "finished"
    run.end()  # the run has finished already: the last points are not written again
    data = sy.get_run(run.id)
    assert data.metrics["loss"].count == 500 and data.info.status == "finished"
    assert len(sy.get_metric_history(run.id, "loss")) == 500


@pytest.mark.parametrize("key", ["", "a b", "x" * 65, "é"])
def test_a_bad_idempotency_key_is_a_422_naming_it(platform_server: str, key: str) -> None:
    base = f"{platform_server}/api"
    exp = httpx.post(f"{base}/experiments", json={"name": "bad-ids"}).json()["id"]
    process = {"host": "h", "pid": 1, "started": None}
    new = {"experiment_id": exp, "name": "r", "process": process}
    run_id = httpx.post(f"{base}/runs", json=new).json()["id"]
    points = [["k", 1.0, 0, 1.0]]
    for route, body in (
        ("metrics", {"points": points}),
        ("finish", {"status": "finished", "points": points}),
    ):
        answer = httpx.post(
            f"{base}/runs/{run_id}/{route}",
            json=body,
            headers={"Idempotency-Key": key.encode("latin-1")},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"].startswith("Idempotency-Key: expected 1 to 64 letters")
    run = httpx.get(f"{base}/runs/{run_id}").json()
    assert run["metrics"] == {} and run["info"]["status"] == "running"

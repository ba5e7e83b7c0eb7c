"""Resource abuse: one client's large metric batch must not stall everyone else's requests
(the batch was parsed twice, and checked point by point, on the server's event loop)."""

from __future__ import annotations

import threading
import time

import httpx
import orjson


def test_a_large_batch_does_not_stall_other_requests(platform_server: str) -> None:
    points = [["loss", 0.5, step, 1.7e9] for step in range(1_000_000)]
    body = orjson.dumps({"points": points})  # ~30 MB, under the body limit
    del points
    waits: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=platform_server, timeout=120) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get("/api/health")
                waits.append(time.perf_counter() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.3)
    started = time.perf_counter()
    answer = httpx.post(  # no such run: parsed and checked, then refused
        f"{platform_server}/api/runs/0123456789abcdef0123456789abcdef/metrics",
        content=body,
        headers={"content-type": "application/json"},
        timeout=120,
    )
    took = time.perf_counter() - started
    done.set()
    prober.join()
    assert answer.status_code == 404, answer.text
    # the parse runs in a worker thread: the event loop answers in between (before, the
    # longest wait was the whole request: the loop was busy parsing all along)
    assert max(waits) < 0.5 * took, (max(waits), took)


def test_sql_statements_beyond_the_servers_slots_are_refused(platform_server: str) -> None:
    """Each statement may take 1 GB and every core: a client sending many at once was
    free to take them all (and the threads every other route runs in)."""
    slow = {"sql": "SELECT count(*) FROM range(100000000000) a", "timeout": 3}
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(httpx.post(f"{platform_server}/api/datasets/query", json=slow, timeout=60))

    running = [threading.Thread(target=send) for _ in range(2)]
    for thread in running:
        thread.start()
    time.sleep(1.0)
    busy = httpx.post(f"{platform_server}/api/datasets/query", json={"sql": "SELECT 1"})
    for thread in running:
        thread.join()
    assert busy.status_code == 503, busy.text
    assert "at most 2 statements at once" in busy.json()["error"]
    assert busy.headers["retry-after"] == "1"
    assert [a.status_code for a in answers] == [422, 422]  # stopped at their time limit
    after = httpx.post(f"{platform_server}/api/datasets/query", json={"sql": "SELECT 1 AS one"})
    assert after.status_code == 200 and after.json()["rows"] == [[1]]

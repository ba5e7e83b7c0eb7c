"""What a page in the operator's browser could send, refused on real servers: forms and
text bodies (415), a rebound Host (400), a cross-origin change (403); CORS for an allowed
origin; a new API key that works at once; the startup rule of servers without keys."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard import serving
from shipyard.server import create_app as create_api
from shipyard.store import Base, default_database
from shipyard.testing.servers import LOAN_ROW, free_port

ROW = LOAN_ROW  # one loan application, as the served model takes it
TENSORS = {
    "inputs": [
        {"name": k, "shape": [1], "datatype": "BYTES" if k == "region" else "FP64", "data": [v]}
        for k, v in ROW.items()
    ]
}
BODY = httpx.Response(200, json=ROW).content  # ROW as JSON bytes
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def server(registry: Path, start_module_server: Callable[[Any], Any]) -> str:
    """``loans-gbm@champion`` served with one extra host name and one allowed origin."""
    app = serving.create_app(
        "loans-gbm@champion",
        poll=0,
        allow_hosts=["models.internal"],
        allow_origins=["https://app.example"],
    )
    return str(start_module_server(app).url)


def test_forms_and_text_cannot_predict_or_give_feedback(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            for path in ("/predict", "/feedback", "/v2/models/loans-gbm/infer"):
                refused = client.post(path, content=BODY, headers={"content-type": kind})
                assert refused.status_code == 415, (kind, path)
                assert (
                    kind in refused.json()["error"]
                    and "application/json" in refused.json()["error"]
                )
        untyped = client.post("/predict", content=BODY)  # no Content-Type, a body: refused
        assert untyped.status_code == 415 and "application/json" in untyped.json()["error"]
        assert client.post("/predict", json=ROW).status_code == 200
        charset = {"content-type": "application/json; charset=utf-8"}
        assert client.post("/predict", content=BODY, headers=charset).status_code == 200
        # the infer routes also take what tritonclient sends: no Content-Type, or binary
        tensors = httpx.Response(200, json=TENSORS).content
        infer = "/v2/models/loans-gbm/infer"
        assert client.post(infer, content=tensors).status_code == 200
        binary = {"content-type": "application/octet-stream"}
        assert client.post(infer, content=tensors, headers=binary).status_code == 200
        assert client.post("/predict", content=BODY, headers=binary).status_code == 415


def test_a_rebound_host_name_is_refused(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    with httpx.Client(base_url=server) as client:
        for host in (f"evil.example:{port}", "evil.example", "models.internal.evil.example"):
            for method, path in (("GET", "/v2/health/ready"), ("POST", "/predict")):
                refused = client.request(method, path, json=ROW, headers={"host": host})
                assert refused.status_code == 400, (host, path)
                assert "--allow-host" in refused.json()["error"]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", "10.1.2.3:80",
                     f"models.internal:{port}", "MODELS.INTERNAL"):  # fmt: skip
            assert client.post("/predict", json=ROW, headers={"host": host}).status_code == 200


def test_a_change_from_another_origin_is_refused(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        evil = client.post("/predict", json=ROW, headers={"origin": EVIL})
        assert evil.status_code == 403 and EVIL in evil.json()["error"]
        assert "--allow-origin" in evil.json()["error"]
        port_over = client.post("/feedback", json={"id": "x"}, headers={"origin": server + "1"})
        assert port_over.status_code == 403  # another port of the same host: another origin
        same = client.post("/predict", json=ROW, headers={"origin": server})
        assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
        reading = client.get("/v2/health/ready", headers={"origin": EVIL})
        assert reading.status_code == 200 and "access-control-allow-origin" not in reading.headers
        # an allowed origin: preflight answered, answers readable by it
        asked = {
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        }
        preflight = client.options("/predict", headers=asked)
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "content-type" in preflight.headers["access-control-allow-headers"]
        assert client.options("/predict", headers={**asked, "origin": EVIL}).status_code == 403
        allowed = client.post("/predict", json=ROW, headers={"origin": "https://app.example"})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        form = {"origin": "https://app.example", "content-type": "text/plain"}
        assert client.post("/predict", content=BODY, headers=form).status_code == 415


def test_the_platform_api_refuses_what_a_page_could_send(home: Path) -> None:
    """The alerts, checks and rollbacks a page could have triggered: nothing reaches the
    route (it would answer 404 for these unknown names)."""
    app = create_api(allow_origins=["https://ops.example"])
    with serving.background(app) as url, httpx.Client(base_url=url) as api:
        paths = ("/api/alerts/7/ack", "/api/monitors/m/check", "/api/deployments/d/rollback")
        for path in paths:
            text = api.post(path, content=b'{"by": "x"}', headers={"content-type": "text/plain"})
            assert text.status_code == 415, path
            assert api.post(path, data={"by": "x"}).status_code == 415, path
            assert api.post(path, content=b'{"by": "x"}').status_code == 415, path  # untyped
            empty_cross = api.post(path, headers={"origin": EVIL})  # a page's empty POST
            assert empty_cross.status_code == 403, path
            rebound = api.post(path, json={}, headers={"host": "evil.example"})
            assert rebound.status_code == 400, path
            assert api.post(path).status_code == 404, path  # curl -X POST: reaches the route
            assert api.post(path, json={}).status_code == 404, path
            ops = api.post(path, json={}, headers={"origin": "https://ops.example"})
            assert ops.status_code == 404, path
            assert ops.headers["access-control-allow-origin"] == "https://ops.example"
        assert api.get("/api/health", headers={"host": "evil.example"}).status_code == 400
        assert api.get("/api/health").status_code == 200


# -- API keys ------------------------------------------------------------------------------


@pytest.fixture
def no_keys(store: Path) -> Any:
    yield
    with default_database().write() as conn:
        conn.execute(Base.metadata.tables["api_keys"].delete())


def test_a_new_key_works_at_once_and_bad_keys_cannot_flood_the_store(
    no_keys: None, start_server: Callable[[Any], Any]
) -> None:
    serving.create_key("first", ["predict"])
    app = serving.create_app("loans-gbm@champion", poll=0.1, auth=True)  # keys read each 0.1 s
    running = start_server(app)
    keyring = app.state.server.keyring
    with httpx.Client(base_url=running.url) as client:
        for i in range(5):
            key = serving.create_key(f"new{i}", ["predict"])
            answer = client.post("/predict", json=ROW, headers={"x-api-key": key})
            assert answer.status_code == 200, answer.text  # the very first request
            time.sleep(1 / keyring.per_second)  # new keys as fast as unknown ones may read
        before, started = keyring.reads, time.monotonic()
        for i in range(200):
            bad = client.post("/predict", json=ROW, headers={"x-api-key": f"sy_bad_{i}"})
            assert bad.status_code == 401
        elapsed = time.monotonic() - started
    polls = elapsed / 0.1 + 2  # the watcher's own reads meanwhile
    assert keyring.reads - before <= keyring.burst + elapsed * keyring.per_second + polls


# -- startup: keys off ---------------------------------------------------------------------


def _cli(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_without_keys_servers_refuse_other_addresses_unless_insecure(home: Path) -> None:
    port = str(free_port())
    commands = (("server", "--no-auth"), ("serve", "loans@champion"))
    started = [_cli(*c, "--host", "0.0.0.0", "--port", port, home=home) for c in commands]
    outputs = [p.communicate(timeout=60) for p in started]  # both at once: refused unbound
    for refused, (out, err) in zip(started, outputs, strict=True):
        assert refused.returncode == 1, (out, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "--auth" in lines[0] and "--insecure" in lines[0], err
        assert "Serving" not in out and "Platform server on" not in out  # refused before
    for host in ("127.0.0.1", "0.0.0.0"):
        extra = ("--insecure",) if host == "0.0.0.0" else ()
        process = _cli("server", "--no-auth", "--host", host, "--port", port, *extra, home=home)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, host
                time.sleep(0.1)
        finally:
            process.terminate()
            _, err = process.communicate(timeout=30)
        warning = [line for line in err.splitlines() if "auth is off" in line]
        assert len(warning) == 1 and "without a" in warning[0], err

"""Users and tokens: the SDK, the token check, signing in to the web UI, and the first
start of a server with auth (its admin token printed once), end to end over real HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shipyard import server, serving
from shipyard.cli import app as cli
from shipyard.config import reset_settings
from shipyard.errors import Conflict, InvalidInput, NotFound, Unauthorized
from shipyard.server import create_app
from shipyard.server._auth import Authenticator
from shipyard.server._auth_store import SQLUserStore
from shipyard.server._signin import safe_next
from shipyard.store import default_database
from shipyard.testing.servers import free_port


def test_users_and_tokens_through_the_sdk(home: Path) -> None:
    made = server.create_user("dana", "editor")
    assert (made.name, made.role, made.disabled) == ("dana", "editor", False)
    with pytest.raises(Conflict, match="'dana' exists"):
        server.create_user("dana")
    with pytest.raises(InvalidInput, match=r"^role: expected one of viewer, editor, admin"):
        server.create_user("eve", "root")
    with pytest.raises(InvalidInput, match="user name 'a b' is not valid"):
        server.create_user("a b")
    token = server.create_token("dana", "laptop", expires_in=3600)
    assert re.fullmatch(r"syt_[0-9a-f]{8}_[A-Za-z0-9_\-]{43}", token)
    [listed] = server.list_tokens("dana")
    assert token.startswith(f"syt_{listed.prefix}_") and listed.state == "active"
    assert listed.expires_at is not None and listed.expires_at > time.time() + 3500
    assert token not in repr(listed)  # only the hash is kept
    with pytest.raises(InvalidInput, match="expires_in"):
        server.create_token("dana", expires_in=0)
    with pytest.raises(NotFound, match="No user named 'nosuch'"):
        server.create_token("nosuch")
    assert server.revoke_token(token).state == "revoked"  # the whole token works too
    assert server.revoke_token(listed.prefix).state == "revoked"  # twice: no error
    with pytest.raises(InvalidInput, match="token: expected its prefix"):
        server.revoke_token("nonsense")
    # the last enabled admin stays
    server.create_user("root", "admin")
    with pytest.raises(Conflict, match="last enabled admin"):
        server.set_role("root", "viewer")
    with pytest.raises(Conflict, match="last enabled admin"):
        server.disable_user("root")
    assert server.set_role("dana", "admin").role == "admin"
    assert server.disable_user("root").disabled
    assert not server.disable_user("root", disabled=False).disabled
    assert [u.name for u in server.list_users()] == ["dana", "root"]


def test_a_token_stops_working_within_its_cache_time(home: Path) -> None:
    server.create_user("dana", "viewer")
    token = server.create_token("dana")
    store = SQLUserStore(default_database())
    cached, fresh = Authenticator(store, ttl=3600), Authenticator(store, ttl=0)
    assert cached(token).name == fresh(token).name == "dana"
    assert server.list_tokens()[0].last_used_at is not None
    server.set_role("dana", "editor")
    assert fresh(token).role == "editor" and cached(token).role == "viewer"  # kept a while
    server.revoke_token(token)
    with pytest.raises(Unauthorized, match="revoked"):
        fresh(token)
    other = server.create_token("dana")
    server.disable_user("dana")
    with pytest.raises(Unauthorized, match="'dana' is disabled"):
        fresh(other)
    with pytest.raises(Unauthorized, match="not a Shipyard token"):
        fresh("sy_123_abc")
    with pytest.raises(Unauthorized, match="unknown"):
        fresh("syt_00000000_" + "x" * 43)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/runs?sort=x", "/runs?sort=x"),
        (None, "/"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/runs\r\nSet-Cookie: x", "/"),
    ],
)
def test_after_signing_in_only_local_paths(given: str | None, kept: str) -> None:
    assert safe_next(given) == kept


def test_signing_in_keeps_the_token_in_a_strict_http_only_cookie(home: Path) -> None:
    server.create_user("dana", "editor")
    token = server.create_token("dana")
    with (
        serving.background(create_app(auth=True)) as url,
        httpx.Client(base_url=url) as client,
    ):
        page = client.get("/docs?x=1", headers={"accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fdocs%3Fx%3D1"
        login = client.get("/login?next=/docs")
        assert login.status_code == 200 and "Paste your token" in login.text
        refused = client.post("/api/session", json={"token": "syt_00000000_" + "x" * 43})
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        signed = client.post("/api/session", json={"token": token})
        assert signed.status_code == 200 and signed.json() == {"name": "dana", "role": "editor"}
        cookie = signed.headers["set-cookie"].lower()
        assert "shipyard_token=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert "secure" not in cookie  # plain http here
        assert client.get("/api/me").json() == {"name": "dana", "role": "editor"}
        assert client.get("/docs", headers={"accept": "text/html"}).status_code == 200
        shown = client.get("/login")
        assert "dana (editor)" in shown.text and "Sign out" in shown.text  # the header's who
        assert client.delete("/api/session").status_code == 204
        assert client.get("/api/me").status_code == 401
    with serving.background(create_app()) as url:  # auth off: no sign-in needed
        assert httpx.get(f"{url}/login?next=/runs").headers["location"] == "/runs"
        assert httpx.get(f"{url}/api/me").json() == {"name": None, "role": "admin"}


def _start(home: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    command = [sys.executable, "-m", "shipyard.cli", "server", "--port", str(port), *extra]
    pipe = subprocess.PIPE
    return subprocess.Popen(command, env=env, stdout=pipe, stderr=pipe, text=True)


def _wait(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, process.stderr
        time.sleep(0.1)


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.terminate()
    return process.communicate(timeout=30)


def test_the_first_start_beyond_loopback_prints_an_admin_token_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, port = tmp_path / "server-home", free_port()
    url = f"http://127.0.0.1:{port}"
    first = _start(home, port, "--host", "0.0.0.0")
    try:
        _wait(first, url)
        assert httpx.get(f"{url}/api/users").status_code == 401  # auth is on beyond loopback
    finally:
        out, err = _stop(first)
    assert "auth on: sign in at /login" in out
    tokens = re.findall(r"syt_[0-9a-f]{8}_[A-Za-z0-9_\-]{43}", err)
    assert len(tokens) == 1 and "Created user 'admin'" in err, err
    second = _start(home, port, "--host", "0.0.0.0")
    try:
        _wait(second, url)
        monkeypatch.setenv("SHIPYARD_URL", url)
        monkeypatch.setenv("SHIPYARD_TOKEN", tokens[0])
        monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "client-home"))
        reset_settings()
        runner = CliRunner()
        made = runner.invoke(cli, ["users", "create", "dana", "--role", "editor"])
        assert made.exit_code == 0, made.output
        for args in (["keys", "create", "svc", "--rate", "5"], ["keys", "revoke", "svc"]):
            assert runner.invoke(cli, args).exit_code == 0, args  # the server's keys
        keys = runner.invoke(cli, ["keys", "list", "--json"])
        assert '"svc"' in keys.output and '"revoked_at": "20' in keys.output, keys.output
        assert not (tmp_path / "client-home" / "shipyard.db").exists()  # nothing local
        listed = runner.invoke(cli, ["users", "list", "--json"])
        assert listed.exit_code == 0 and '"dana"' in listed.output and '"admin"' in listed.output
        issued = runner.invoke(cli, ["tokens", "create", "dana", "--expires", "1d"])
        assert issued.exit_code == 0 and "syt_" in issued.output
        for args in (["users", "role", "dana", "viewer"], ["users", "disable", "dana"]):
            assert runner.invoke(cli, args).exit_code == 0
        assert server.get_user("dana").disabled and server.get_user("dana").role == "viewer"
        assert not server.disable_user("dana", disabled=False).disabled  # the SDK, remotely
        [listed] = server.list_tokens("dana")
        assert listed.expires_at is not None and listed.state == "active"
        assert runner.invoke(cli, ["tokens", "revoke", listed.prefix]).exit_code == 0
        assert server.list_tokens("dana")[0].state == "revoked"
        issued = runner.invoke(cli, ["tokens", "create", "dana"])
        server.set_role("dana", "editor")
        monkeypatch.setenv("SHIPYARD_TOKEN", issued.output.split()[-1])
        reset_settings()
        refused = runner.invoke(cli, ["users", "list"])  # an editor may not
        assert refused.exit_code == 1 and "needs admin" in refused.output
    finally:
        reset_settings()
        out, err = _stop(second)
    assert "syt_" not in err  # never printed again


def test_admins_manage_users_tokens_and_inference_keys_over_http(home: Path) -> None:
    server.create_user("root", "admin")
    admin = {"authorization": f"Bearer {server.create_token('root')}"}
    with (
        serving.background(create_app(auth=True)) as url,
        httpx.Client(base_url=url, headers=admin) as api,
    ):
        made = api.post("/api/users", json={"name": "dana", "role": "viewer"})
        assert made.status_code == 201 and made.json()["created_by"] == "user:root"
        assert api.post("/api/users", json={"name": "dana"}).status_code == 409
        bad = api.post("/api/users", json={"name": "a b"})
        assert bad.status_code == 422 and bad.json()["error"].startswith("user name 'a b'")
        changed = api.patch("/api/users/dana", json={"role": "editor"})
        assert changed.json()["role"] == "editor"
        assert api.patch("/api/users/root", json={"disabled": True}).status_code == 409
        issued = api.post("/api/tokens", json={"user": "dana", "name": "ci", "expires_in": 60})
        body = issued.json()
        assert issued.status_code == 201 and body["token"].startswith(f"syt_{body['prefix']}_")
        assert body["state"] == "active" and body["expires_at"].endswith("+00:00")
        listed = api.get("/api/tokens", params={"user": "dana", "page_size": 1}).json()
        assert [t["prefix"] for t in listed["items"]] == [body["prefix"]]
        assert "token" not in listed["items"][0] and listed["next_page_token"] is None
        as_dana = {"authorization": f"Bearer {body['token']}"}
        assert api.get("/api/me", headers=as_dana).json() == {"name": "dana", "role": "editor"}
        revoked = api.delete(f"/api/tokens/{body['prefix']}")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        key = api.post("/api/keys", json={"name": "svc", "scopes": ["predict"], "rate_limit": 5})
        assert key.status_code == 201 and key.json()["key"].startswith("sy_")
        assert [k["name"] for k in api.get("/api/keys").json()["items"]] == ["svc"]
        assert api.delete("/api/keys/svc").json()["revoked_at"] is not None
        assert api.delete("/api/keys/nosuch").status_code == 404
    assert serving.list_keys()[0].revoked_at is not None

"""Remote mode: a metric batch whose write reached the server but whose answer was lost
(a dropped connection, a timeout) is sent again by the run under the same batch id, and the
server keeps its points once. A small TCP proxy between the SDK and a real platform server
forwards a request and then drops the connection instead of the answer."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

import shipyard as sy
from shipyard.config import reset_settings
from shipyard.errors import Unavailable


class LosingProxy:
    """Forwards TCP connections from a local port to ``target``; once :meth:`lose` names a
    request path, the next request whose start holds it reaches the server, and its
    connection is closed when the answer begins, the answer not passed on."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.marker: bytes | None = None
        self.lost = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def lose(self, path_part: str) -> None:
        self.marker = path_part.encode()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            dropping = threading.Event()
            threading.Thread(target=self._up, args=(client, server, dropping), daemon=True).start()
            threading.Thread(
                target=self._down, args=(server, client, dropping), daemon=True
            ).start()

    def _up(self, client: socket.socket, server: socket.socket, dropping: threading.Event) -> None:
        while data := _recv(client):
            if self.marker is not None and self.marker in data.split(b"\r\n", 1)[0]:
                self.marker = None
                dropping.set()  # before the request goes on: its answer cannot slip through
            try:
                server.sendall(data)
            except OSError:
                break
        _close(client, server)

    def _down(
        self, server: socket.socket, client: socket.socket, dropping: threading.Event
    ) -> None:
        while data := _recv(server):
            if dropping.is_set():  # the server answered, so it has written the batch
                self.lost += 1
                break
            try:
                client.sendall(data)
            except OSError:
                break
        _close(client, server)

    def close(self) -> None:
        self.listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.fixture
def proxy(
    platform_server: str, home: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LosingProxy]:
    """Remote mode through a :class:`LosingProxy` in front of the module's server."""
    losing = LosingProxy(platform_server)
    monkeypatch.setenv("SHIPYARD_URL", losing.url)
    reset_settings()
    try:
        yield losing
    finally:
        reset_settings()
        losing.close()


def _logged(run: sy.Run, key: str, n: int) -> None:
    for i in range(n):
        run.log_metric(key, i * 0.5, step=i)


def test_a_flush_whose_answer_is_lost_is_stored_once(proxy: LosingProxy) -> None:
    run = sy.start_run(experiment="lost-answers")
    _logged(run, "loss", 1000)
    proxy.lose("/metrics")
    with pytest.raises(Unavailable, match="cannot reach the server"):
        run.flush()
    assert proxy.lost == 1
    _logged(run, "acc", 10)  # logged meanwhile: goes in a batch of its own
    run.flush()  # the same batch again, same id: answered as done
    run.end()
    data = sy.get_run(run.id)
    assert (data.metrics["loss"].count, data.metrics["acc"].count) == (1000, 10)
    assert [p.step for p in sy.get_metric_history(run.id, "loss")] == list(range(1000))


def test_a_finish_whose_answer_is_lost_is_stored_once(proxy: LosingProxy) -> None:
    run = sy.start_run(experiment="lost-answers")
    _logged(run, "loss", 500)
    proxy.lose("/finish")
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

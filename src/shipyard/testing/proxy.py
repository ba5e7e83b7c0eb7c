"""A TCP proxy that fails on purpose, as networks do, for tests of retries and resumes.

:class:`FaultyProxy` forwards a port of 127.0.0.1 to a server. It can cut the first
connection that has carried so many bytes towards the server (an upload dropped mid-way) or
towards the client (a download dropped mid-way), once; and it can lose an answer: the next
request whose first line names a path goes on to the server, and its connection is closed
when the answer begins, so the server did the work and the client never hears of it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

__all__ = ["FaultyProxy"]


class FaultyProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target`` (``http://host:port``); closes the first
    connection that has carried ``cut_up`` bytes towards the server, or ``cut_down`` towards
    the client, once. Used as a context manager (or :meth:`start` and :meth:`close`); its
    address is :attr:`url` once started; :attr:`lost` counts answers lost."""

    def __init__(
        self, target: str, *, cut_up: int | None = None, cut_down: int | None = None
    ) -> None:
        self.target = target
        self.cuts = {"up": cut_up, "down": cut_down}
        self.url = ""
        self.lost = 0
        self._marker: bytes | None = None
        self._listener: socket.socket | None = None

    def __enter__(self) -> FaultyProxy:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> str:
        """Listen and forward; the proxy's URL."""
        host, port = self.target.removeprefix("http://").rsplit(":", 1)
        address = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, args=(self._listener, address), daemon=True).start()
        return self.url

    def lose_answer(self, path_part: str) -> None:
        """Lose the answer to the next request whose first line holds ``path_part``."""
        self._marker = path_part.encode()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def _accept(self, listener: socket.socket, address: tuple[str, int]) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(address)
            except OSError:
                return
            losing = threading.Event()  # this connection's answer is to be lost
            for args in ((client, server, "up"), (server, client, "down")):
                threading.Thread(target=self._pump, args=(*args, losing), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, way: str, losing: Any) -> None:
        carried = 0
        try:
            while chunk := source.recv(65536):
                if way == "up" and self._marker and self._marker in chunk.split(b"\r\n", 1)[0]:
                    self._marker = None
                    losing.set()  # before the request goes on: its answer cannot slip through
                if way == "down" and losing.is_set():  # the server answered: it did the work
                    self.lost += 1
                    break
                cut = self.cuts[way]
                if cut is not None and carried + len(chunk) >= cut:
                    self.cuts[way] = None  # once
                    sink.sendall(chunk[: cut - carried])
                    break
                sink.sendall(chunk)
                carried += len(chunk)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

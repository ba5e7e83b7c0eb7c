"""The supervisor of ``serve(workers=N)``'s processes, run as ``python -m
shipyard.serving._supervisor`` by ``_workers.run_workers`` (never imported otherwise).

It is the ``__main__`` of its interpreter, so the workers it spawns import this module again
(as ``__mp_main__``, doing nothing) rather than the caller's script. It reads its plan on
stdin (see ``_workers``), serves the caller's socket with ``workers`` processes and tells
the caller on the status pipe: ``ready`` once every worker listens; ``failed REASON`` when
one could not start (its first error line, or its exit code), after which it stops them all
and exits with ``STARTUP_FAILURE`` rather than starting it again and again. A worker that
served and died is started again. SIGTERM or SIGINT stop it, and so does the end of its
stdin (the caller is gone).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import IO, Any

from shipyard.serving._workers import STARTUP_FAILURE, run_worker

_stopping = threading.Event()


class _Worker:
    """One worker process and what it told the supervisor."""

    def __init__(self, context: SpawnContext, plan: dict[str, Any], sock: socket.socket):
        self.messages, child = context.Pipe(duplex=False)
        self.process: SpawnProcess = context.Process(
            target=run_worker, args=(plan, sock, child), name="shipyard-serve-worker"
        )
        self.process.start()
        child.close()
        self.ready = False
        self.failure: str | None = None

    def read(self) -> None:
        """Take in what the worker said so far."""
        conn: Connection = self.messages
        try:
            while not conn.closed and conn.poll():
                kind, text = conn.recv()
                self.ready = self.ready or kind == "ready"
                self.failure = text if kind == "failed" else self.failure
        except (EOFError, OSError):
            conn.close()

    def why(self) -> str:
        code = self.process.exitcode
        return self.failure or f"it ended with exit code {code}; see its messages above"

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()  # uvicorn finishes the requests in flight
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.messages.close()


def supervise(plan: dict[str, Any], sock: socket.socket, status: IO[str]) -> int:
    """Run ``plan["workers"]`` workers until stopped; the exit code of the supervisor."""
    context = multiprocessing.get_context("spawn")
    workers = [_Worker(context, plan, sock) for _ in range(plan["workers"])]
    announced = False
    try:
        while not _stopping.is_set():
            for index, worker in enumerate(workers):
                worker.read()
                if worker.process.is_alive():
                    continue
                worker.read()  # what it said before it ended
                if _stopping.is_set():
                    break
                if not worker.ready:  # it never served: starting it again fails again
                    status.write(f"failed {worker.why()}\n")
                    return STARTUP_FAILURE
                code = worker.process.exitcode
                again = f"A server worker ended (exit code {code}); starting another."
                print(again, file=sys.stderr, flush=True)
                workers[index] = _Worker(context, plan, sock)
            if not announced and all(worker.ready for worker in workers):
                status.write("ready\n")
                announced = True
            _stopping.wait(0.1)
        return 0
    finally:
        for worker in workers:
            worker.stop()
        sock.close()


def _stop_when_orphaned() -> None:
    """Stop this supervisor (as Ctrl-C would) once its caller is gone: stdin closes."""
    while os.read(0, 4096):  # the raw descriptor: no buffer lock held at exit
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _read_plan() -> dict[str, Any]:
    """The plan: one JSON line on stdin (read raw: the rest of stdin is watched raw too)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 1)
        if not chunk:
            sys.exit(0)  # the caller went away before it said anything
        data += chunk
    plan: dict[str, Any] = json.loads(data)
    return plan


def main() -> None:
    """Read the plan, then supervise the workers until stopped."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: _stopping.set())
    plan = _read_plan()
    sys.path[:] = [*plan["path"], *(p for p in sys.path if p not in plan["path"])]
    sock = socket.socket(fileno=plan["socket"])
    threading.Thread(target=_stop_when_orphaned, name="orphaned", daemon=True).start()
    with os.fdopen(plan["status"], "w", buffering=1, encoding="utf-8") as status:
        code = supervise(plan, sock, status)
    sys.exit(code)


if __name__ == "__main__":
    main()

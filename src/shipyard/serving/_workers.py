"""The worker processes of ``serve(workers=N)``, supervised from a fresh interpreter.

uvicorn starts its workers with multiprocessing's *spawn*, which imports the starting
process's ``__main__`` again in each worker: a script calling ``serving.serve(...,
workers=2)`` at its top level ran again in every worker (registering and training again)
and served nothing. So the caller's process runs uvicorn's supervisor as ``python -m
shipyard.serving._supervisor``: that interpreter's ``__main__`` is that module, so the
workers import only Shipyard, never the caller's script. The settings travel in an
environment variable (:func:`app_from_env` builds the app in each worker) and the caller's
``sys.path`` goes along, so models whose code lives beside the script still load.

The caller waits until a worker answers on the port, announces, and waits for the
supervisor; Ctrl-C stops them all, and if the caller dies the supervisor's stdin (a pipe
from the caller) closes, which stops it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI

from shipyard.errors import ShipyardError
from shipyard.serving._app import create_app

__all__ = ["ACCESS_ENV", "APP", "ENV", "app_from_env", "configure_logs", "run_workers"]

ENV = "SHIPYARD_SERVE_CONFIG"
ACCESS_ENV = "SHIPYARD_ACCESS_LOG"
APP = "shipyard.serving._workers:app_from_env"  # what each worker imports


def run_workers(
    settings: dict[str, Any],
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    on_ready: Callable[[], None],
) -> None:
    """Serve ``settings`` (``create_app``'s arguments) with ``workers`` processes until
    interrupted; ``on_ready`` is called once a worker answers on ``host:port``.

    Raises:
        ShipyardError: the supervisor stopped on its own (its messages are on stderr).
    """
    plan = {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "path": sys.path,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard.serving._supervisor", json.dumps(plan)],
        env={**os.environ, ENV: json.dumps(settings)},
        stdin=subprocess.PIPE,
    )
    code: int | None = None
    try:
        with _signals_stop():
            _wait_ready(process, host, port)
            on_ready()
            code = process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop(process)
    if code not in (None, 0):
        raise ShipyardError(
            f"The server's processes stopped (exit code {code}); see their messages above."
        )


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGINT and SIGTERM sent to this process alone (not to its group, as Ctrl-C is) stop
    the server too: they interrupt the wait, which stops the supervisor."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    before = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _wait_ready(process: subprocess.Popen[bytes], host: str, port: int) -> None:
    """Until a worker accepts connections (workers listen once their models are loaded)."""
    name = host.strip("[]")
    target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(name, name)
    while True:
        code = process.poll()
        if code is not None:
            raise ShipyardError(
                f"The server stopped while starting (exit code {code}); see its messages above."
            )
        try:
            with socket.create_connection((target, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # uvicorn's supervisor stops its workers, then itself
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    finally:
        if process.stdin is not None:
            process.stdin.close()


def app_from_env() -> FastAPI:
    """The app a worker process builds from the settings ``serve`` left in the environment."""
    configure_logs()
    return create_app(**json.loads(os.environ[ENV]))


def configure_logs() -> None:
    """Access lines (JSON, one per request) on stderr when ``SHIPYARD_ACCESS_LOG=1``."""
    import logging

    if os.environ.get(ACCESS_ENV) != "1":
        return
    access = logging.getLogger("shipyard.serving.access")
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False

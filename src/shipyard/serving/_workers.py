"""The worker processes of ``serve(workers=N)``, supervised from a fresh interpreter.

Spawned workers import the starting process's ``__main__`` again: a script calling
``serving.serve(..., workers=2)`` at its top level ran again in every worker (registering
and training again) and served nothing. So the caller runs the supervisor as ``python -m
shipyard.serving._supervisor``: that interpreter's ``__main__`` is that module, so the
workers import only Shipyard, never the caller's script.

The caller hands the supervisor, over private channels of the child it starts (never the
environment, never the command line): the bound socket (its descriptor, so nobody takes the
port meanwhile), a *plan* on its stdin (the app's settings, the caller's ``sys.path``, so
models whose code lives beside the script still load, and the exact pickled versions the
caller trusted: id and artifact sha256, e.g. those it registered itself) and a status pipe.
Each worker (:func:`run_worker`) trusts those versions, loads them and builds the app before
it listens; the supervisor writes ``ready`` on the status pipe once every worker serves,
or ``failed REASON`` (the worker's first error line) when one could not start, and then
stops them all. The caller announces on ``ready``, raises one line on ``failed``; Ctrl-C
stops everything, and if the caller dies the supervisor's stdin closes, which stops it too.
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
from multiprocessing.connection import Connection
from typing import Any

from fastapi import FastAPI

from shipyard import models
from shipyard.errors import ShipyardError
from shipyard.serving._app import create_app
from shipyard.serving._startup import load_served

__all__ = ["ACCESS_ENV", "STARTUP_FAILURE", "configure_logs", "run_worker", "run_workers"]

ACCESS_ENV = "SHIPYARD_ACCESS_LOG"
STARTUP_FAILURE = 3  # a worker's exit code when it could not start (uvicorn's too)


def run_workers(
    settings: dict[str, Any],
    *,
    sock: socket.socket,
    workers: int,
    log_level: str,
    trusted: list[tuple[str, str]],
    on_ready: Callable[[], None],
) -> None:
    """Serve ``settings`` (``create_app``'s arguments) on the bound ``sock`` (taken over:
    closed here) with ``workers`` processes until interrupted; ``trusted`` holds the
    (version id, artifact sha256) of the pickled versions this process trusted, which the
    workers load too. ``on_ready`` is called once every worker serves.

    Raises:
        ShipyardError: a worker did not start (its first error line), or the supervisor
            stopped on its own.
    """
    status, writer = os.pipe()
    plan = {
        "settings": settings,
        "workers": workers,
        "log_level": log_level,
        "path": sys.path,
        "trusted": trusted,
        "socket": sock.fileno(),
        "status": writer,
    }
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.serving._supervisor"],
            stdin=subprocess.PIPE,
            pass_fds=(sock.fileno(), writer),
        )
    except BaseException:
        os.close(status)
        raise
    finally:
        os.close(writer)
        sock.close()  # the supervisor holds it now
    with os.fdopen(status, encoding="utf-8") as events:
        _follow(process, plan, events, on_ready)


def _follow(
    process: subprocess.Popen[bytes],
    plan: dict[str, Any],
    events: Any,
    on_ready: Callable[[], None],
) -> None:
    """Send ``plan``, announce on ``ready`` and wait; raise on ``failed`` or an early exit."""
    started = False
    event = ""
    try:
        with _signals_stop():
            _send(process, plan)
            event = events.readline()
            if event == "ready\n":
                started = True
                on_ready()
                event = events.readline()  # until the end: a failure, or nothing
            code = process.wait()
    except KeyboardInterrupt:
        return
    finally:
        _stop(process)
    if event.startswith("failed "):
        what = "did not start" if not started else "stopped and could not start again"
        raise ShipyardError(f"A server worker {what}: {event[7:].strip()}")
    if code != 0:
        when = "" if started else " while starting"
        raise ShipyardError(
            f"The server's processes stopped{when} (exit code {code}); see their messages above."
        )


def _send(process: subprocess.Popen[bytes], plan: dict[str, Any]) -> None:
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # it died at once: its exit code says why
        process.stdin.write(json.dumps(plan).encode() + b"\n")
        process.stdin.flush()


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


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # the supervisor stops its workers, then itself
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    finally:
        if process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()


def run_worker(plan: dict[str, Any], sock: socket.socket, conn: Connection) -> None:
    """A worker process: trust what the caller trusted, load what it serves and build the
    app, then serve it on ``sock``; tells the supervisor on ``conn`` ``("ready", "")`` once
    it listens, or ``("failed", first error line)`` and exits with ``STARTUP_FAILURE``."""
    import uvicorn

    try:
        app = _worker_app(plan)
    except KeyboardInterrupt:
        return  # stopped while loading
    except Exception as exc:
        conn.send(("failed", _first_line(exc)))
        sys.exit(STARTUP_FAILURE)
    level = plan["log_level"]
    server = uvicorn.Server(uvicorn.Config(app, log_level=level, access_log=False, lifespan="on"))
    threading.Thread(target=_tell_ready, args=(server, conn), daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


def _worker_app(plan: dict[str, Any]) -> FastAPI:
    for version_id, digest in plan["trusted"]:
        models.trust_version(version_id, digest)
    configure_logs()
    settings = plan["settings"]
    # as the caller did: a version that fails is one line here, not a traceback in the
    # app's start (which then finds it in the model cache)
    load_served(settings["model"], settings["deployment"], format=settings["format"])
    return create_app(**settings)


def _tell_ready(server: Any, conn: Connection) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        conn.send(("ready", ""))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return line if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {line}"


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

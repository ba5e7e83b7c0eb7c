"""A real platform server for tests: ``shipyard.server.run`` in a child process over a store.

The child gets a clean environment (no ``SHIPYARD_*`` of the caller's, so a test in remote
mode never points the server at itself) with ``SHIPYARD_HOME`` set to the store's folder;
:func:`platform_server` waits for ``/api/health`` and stops the server afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["platform_server"]

_RUN = "import sys; from shipyard.server import run; run('127.0.0.1', int(sys.argv[1]))"


@contextmanager
def platform_server(
    home: Path, *, pythonpath: Sequence[str] = (), timeout: float = 60.0
) -> Iterator[str]:
    """A server (auth off, on 127.0.0.1) over the store in ``home``; its base URL. Its
    output goes to ``server.log`` beside ``home``; ``pythonpath``: folders the server must
    import from (pipelines defined in test modules)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*pythonpath, env.get("PYTHONPATH", "")])
    home.parent.mkdir(parents=True, exist_ok=True)
    log = home.parent / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _RUN, str(port)],
            cwd=home.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(process, url, log, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the platform server did not start: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the platform server did not answer within {timeout:.0f} s")
        time.sleep(0.1)

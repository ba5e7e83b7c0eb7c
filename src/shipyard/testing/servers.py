"""Servers as users run them, for tests: ``shipyard serve`` processes started and waited
for, a model that fails on chosen rows (a broken candidate to roll back), and the platform
server (``shipyard.server.run``) in a child process over a store.

    with serve_processes("fraud", workers=(2, 1)) as (first, second):
        httpx.post(first + "/predict", json=row)

The platform server's child gets a clean environment (no ``SHIPYARD_*`` of the caller's, so a
test in remote mode never points the server at itself) with ``SHIPYARD_HOME`` set to the
store's folder; :func:`platform_server` waits for ``/api/health`` and stops it afterwards
(:class:`PlatformServer` starts one without waiting, to start it ahead of its use;
:class:`Background` starts any command so).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.models import PythonModel

__all__ = [
    "LOAN_ROW",
    "Background",
    "FailsOn",
    "PlatformServer",
    "free_port",
    "platform_server",
    "serve_processes",
]

_RUN = "import sys; from shipyard.server import run; run('127.0.0.1', int(sys.argv[1]))"

LOAN_ROW: dict[str, Any] = {
    "age": 41,
    "income": 52000.0,
    "loan_amount": 12000.0,
    "term_months": 36,
    "credit_score": 640,
    "region": "north",
}
"""One loan application (``shipyard.data.make_loans``' features) to send to a server."""


class FailsOn(PythonModel):
    """Fails every batch holding a row whose ``column`` equals ``value``; predicts 0
    otherwise (so it passes its warm-up on a stored sample without that value)."""

    def __init__(self, column: str, value: Any) -> None:
        self.column = column
        self.value = value

    def predict(self, df: Any) -> Any:
        if (df[self.column] == self.value).any():
            raise RuntimeError(f"{self.column} == {self.value!r}: this model always fails")
        return np.zeros(len(df), dtype=np.int64)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_processes(
    deployment: str,
    workers: tuple[int, ...] = (1,),
    *,
    poll: float = 0.1,
    env: Mapping[str, str] | None = None,
    timeout: float = 90.0,
) -> Iterator[list[str]]:
    """One ``shipyard serve --deployment`` process per entry of ``workers`` (with that many
    uvicorn workers each), on free ports, with this environment (plus ``env``); yields their
    URLs once every process answers ready; terminates them afterwards. Raises RuntimeError
    with a process's output when it does not become ready within ``timeout`` seconds."""
    started: list[tuple[subprocess.Popen[bytes], str]] = []
    environ = {**os.environ, **(env or {})}
    try:
        for count in workers:
            port = free_port()
            command = [sys.executable, "-m", "shipyard.cli", "serve", "--deployment", deployment]
            options = ["--port", str(port), "--workers", str(count), "--poll", str(poll)]
            options.append("--trust")  # the test registered its own PythonModels (pickles)
            process = subprocess.Popen(
                [*command, *options], env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            started.append((process, f"http://127.0.0.1:{port}"))
        for process, url in started:
            _wait_ready(process, url, timeout)
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            process.communicate(timeout=60)


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    import httpx

    deadline, ready = time.monotonic() + timeout, 0
    while ready < 10:  # ten in a row on fresh connections: the workers have started
        try:
            ok = httpx.get(url + "/v2/health/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            ok = False
        ready = ready + 1 if ok else 0
        if process.poll() is not None or time.monotonic() > deadline:
            process.terminate()
            output = process.communicate(timeout=30)[0].decode()
            raise RuntimeError(f"shipyard serve did not become ready at {url}:\n{output[-3000:]}")
        time.sleep(0.05 if ok else 0.1)


class PlatformServer:
    """A platform server (auth off, on 127.0.0.1) over the store in ``home``, started in a
    child process and not yet waited for (a caller can start the next module's server while
    this module's tests run); :meth:`wait` returns its base URL once it answers. Its output
    goes to ``server.log`` beside ``home``; ``pythonpath``: folders the server must import
    from (pipelines defined in test modules)."""

    def __init__(self, home: Path, *, pythonpath: Sequence[str] = ()) -> None:
        self.home = home
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env["SHIPYARD_HOME"] = str(home)
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([*pythonpath, env.get("PYTHONPATH", "")])
        home.parent.mkdir(parents=True, exist_ok=True)
        self.log = home.parent / "server.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _RUN, self.url.rsplit(":", 1)[1]],
                cwd=home.parent,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float = 60.0) -> str:
        """The base URL, once ``/api/health`` answers; RuntimeError (with the log's end)
        when the server exits first or does not answer within ``timeout`` seconds."""
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                output = self.log.read_text()[-2000:]
                raise RuntimeError(f"the platform server did not start: {output}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the platform server did not answer within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminates the server (killed after 10 s) and waits for it."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def platform_server(
    home: Path, *, pythonpath: Sequence[str] = (), timeout: float = 60.0
) -> Iterator[str]:
    """A :class:`PlatformServer` over the store in ``home``, waited for (``timeout``
    seconds) and stopped afterwards; its base URL."""
    server = PlatformServer(home, pythonpath=pythonpath)
    try:
        yield server.wait(timeout)
    finally:
        server.stop()


class Background:
    """A command started ahead of the test that needs what it makes (a session fixture's
    store), so that it runs beside the tests before that one: in a process group of its own,
    at a lower CPU priority (``nice -n 10``, where there is a ``nice`` command: it takes only
    a core the tests leave idle), its output (stdout and stderr) written to ``output``."""

    def __init__(
        self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], output: Path
    ) -> None:
        lower = shutil.which("nice")
        self.output = output
        with output.open("wb") as out:
            self.process = subprocess.Popen(
                [lower, "-n", "10", *command] if lower else list(command),
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self, timeout: float) -> tuple[int, str]:
        """Its exit code and output, once it ends (stopped after ``timeout`` seconds:
        subprocess.TimeoutExpired)."""
        try:
            self.process.wait(timeout=timeout)
        finally:
            self.stop()
        return self.process.returncode, self.output.read_text(errors="replace")

    def stop(self) -> None:
        """Kills the command and whatever it started, unless it has ended; waits for it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

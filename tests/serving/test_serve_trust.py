"""``shipyard serve`` refuses a pickled version someone else registered, saying how to trust
it, and serves it with ``--trust`` (issue 17: serving ran any registrant's pickle)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shipyard.testing.servers import free_port

MODULE = """
import numpy as np
import shipyard as sy


class Constant(sy.models.PythonModel):
    def predict(self, df):
        return np.full(len(df), 7.0)
"""

REGISTER = """
import pandas as pd
import shipyard as sy
from constant import Constant

sy.models.register("constant", Constant(), X=pd.DataFrame({"x": [0.0, 1.0]}))
"""


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store holding ``constant@1`` registered by 'mallory' (in a process of its own),
    made once for the module (each test serves a copy), and the folder of its code."""
    root = tmp_path_factory.mktemp("trust")
    code, store = root / "code", root / "store"
    code.mkdir()
    (code / "constant.py").write_text(MODULE)
    (code / "register.py").write_text(REGISTER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_HOME=str(store), SHIPYARD_USER="mallory")
    env["PYTHONPATH"] = os.pathsep.join([str(code), *filter(None, [env.get("PYTHONPATH")])])
    command = [sys.executable, str(code / "register.py")]
    subprocess.run(command, env=env, check=True, timeout=120)
    return store, code


@pytest.fixture
def environ(home: Path, registered: tuple[Path, Path]) -> dict[str, str]:
    """The environment of a server process, with ``constant@1`` registered by 'mallory'
    (a copy of the module's store: it holds no absolute paths)."""
    store, code = registered
    shutil.copytree(store, home)
    paths = [str(code), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("SHIPYARD_TRUSTED_REGISTRANTS", None)
    return {**env, "SHIPYARD_USER": "alice"}


def serve(environ: dict[str, str], *options: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    command = [sys.executable, "-m", "shipyard.cli", "serve", "constant@1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, *options],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def test_serve_refuses_an_untrusted_pickle_with_a_clear_error(environ):
    process, _ = serve(environ)
    try:
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode != 0
    assert "constant@1 is a pickle registered by 'mallory'" in output
    assert "--trust" in output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_trust_serves_it(environ, workers):
    process, url = serve(environ, "--trust", "--workers", workers)  # workers trust it too
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(url + "/v2/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        answer = httpx.post(url + "/predict", json={"x": 1.0}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [7.0]
    finally:
        process.terminate()
        process.communicate(timeout=30)  # reaps it and closes its pipe

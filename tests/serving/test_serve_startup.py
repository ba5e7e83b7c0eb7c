"""``serving.serve`` checks everything before it says "Serving" (issue 18): its options, the
port, every reference and version it serves; and its worker processes never run the
caller's script again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.errors import Conflict, InvalidInput, NotFound, ShipyardError
from shipyard.testing.servers import LOAN_ROW, free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another server listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("port", 0),
        ("port", 70000),
        ("workers", 0),
        ("max_batch", 0),
        ("max_wait", 5.0),
        ("poll", -1.0),
        ("log_sample", float("nan")),
        ("max_inflight", 0),
        ("max_rows", 0),
        ("format", "pickle"),
    ],
)
def test_a_bad_option_is_refused_by_name_before_anything(
    home: Path, capsys: pytest.CaptureFixture[str], option: str, value: object
) -> None:
    with pytest.raises(InvalidInput, match=f"^{option} must be"):
        serving.serve("nosuch@1", **{option: value})  # type: ignore[arg-type]
    assert "Serving" not in capsys.readouterr().out


def test_a_log_dir_that_is_a_file_is_refused_before_anything(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The inference log's folder cannot be a file, or lie under one (found on the first
    request otherwise, after "Serving")."""
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    for log_dir in (afile, afile / "logs"):
        with pytest.raises(InvalidInput, match=f"^log_dir {log_dir} is not a folder"):
            serving.serve("nosuch@1", log_dir=str(log_dir))
    assert "Serving" not in capsys.readouterr().out


def test_nothing_to_serve_says_what_to_pass(home: Path) -> None:
    with pytest.raises(InvalidInput, match="Nothing to serve: pass model='churn@champion'"):
        serving.serve()
    with pytest.raises(InvalidInput, match="not both"):
        serving.serve("churn@1", deployment="fraud")


def test_a_port_in_use_is_a_conflict_naming_a_free_one(
    home: Path, busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(Conflict, match=f"port {busy_port} on 127.0.0.1 is in use") as caught:
        serving.serve("nosuch@1", port=busy_port)  # the port is checked before the store
    suggested = int(str(caught.value).rsplit("port=", 1)[1])
    assert suggested != busy_port and port_is_free(suggested)
    assert "Serving" not in capsys.readouterr().out


def test_a_host_that_is_not_this_machine_is_refused(home: Path) -> None:
    with pytest.raises(InvalidInput, match="not an address of this machine"):
        serving.serve("nosuch@1", host="192.0.2.1", insecure=True, port=free_port())


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("nosuch@3", NotFound, "No model named 'nosuch'"),
        ("loans-gbm@", InvalidInput, "after '@' expected a version number"),
        ("loans-gbm@9", NotFound, "has no version 9"),
    ],
)
def test_a_reference_naming_nothing_is_refused_before_serving(
    store: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    error: type[Exception],
    message: str,
) -> None:
    port = free_port()
    with pytest.raises(error, match=message):
        serving.serve(model, port=port)
    assert "Serving" not in capsys.readouterr().out
    assert port_is_free(port)  # the socket held during the checks is released


def test_a_missing_deployment_is_refused(store: Path) -> None:
    with pytest.raises(NotFound, match="No deployment named 'nosuch'"):
        serving.serve(deployment="nosuch", port=free_port())


def test_a_route_naming_a_missing_version_is_refused_naming_the_route(store: Path) -> None:
    sy.models.set_alias("loans-gbm@2", "candidate")
    serving.deployments.create("startup", {"a": "loans-gbm@1", "b": "loans-gbm@candidate"})
    try:
        sy.models.remove_alias("loans-gbm", "candidate")
        with pytest.raises(NotFound, match=r"Deployment 'startup', route 'b': .*'candidate'"):
            serving.serve(deployment="startup", port=free_port())
    finally:
        serving.deployments.delete("startup")


def test_a_version_that_cannot_load_is_refused_naming_it(store: Path) -> None:
    # version 2 has no ONNX form: the server could not load it in that format
    with pytest.raises(ShipyardError, match=r"^loans-gbm@2 cannot be served: .*no onnx export"):
        serving.serve("loans-gbm@2", format="onnx", port=free_port())


SCRIPT = """
import pandas as pd
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import serving
from shipyard.data import make_loans

# no `if __name__ == "__main__":` guard, as a newcomer writes it
frame = make_loans(300, seed=0)
X = frame[["age", "income", "loan_amount", "term_months", "credit_score"]]
sy.models.register("scripted", LogisticRegression(max_iter=300).fit(X, frame["default"]), X=X)
serving.serve("scripted@latest", workers=2, port={port})
"""


@pytest.mark.slow
def test_workers_do_not_run_the_callers_script_again(home: Path, tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "serve_at_top_level.py"
    script.write_text(textwrap.dedent(SCRIPT.replace("{port}", str(port))))
    process = subprocess.Popen(
        [sys.executable, str(script)],
        env={**os.environ, "SHIPYARD_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    row = {k: v for k, v in LOAN_ROW.items() if k != "region"}
    try:
        deadline = time.monotonic() + 180
        answers: list[httpx.Response] = []
        while len(answers) < 2:  # both workers have started by then (one answers first)
            try:
                answers.append(httpx.post(f"http://127.0.0.1:{port}/predict", json=row))
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.communicate(timeout=30)[0]
                    pytest.fail(f"the script did not serve:\n{output}")
                time.sleep(0.2)
        assert [a.status_code for a in answers] == [200, 200]
        time.sleep(2)  # a worker running the script again would register by now
        assert [v.version for v in sy.models.versions("scripted")] == [1]
    finally:
        process.terminate()  # the script alone: its workers' supervisor stops with it
        output = process.communicate(timeout=60)[0]
    deadline = time.monotonic() + 60
    while not port_is_free(port):
        assert time.monotonic() < deadline, f"the workers outlived the script:\n{output}"
        time.sleep(0.2)
    assert "Serving scripted@latest (version 1)" in output and "Traceback" not in output

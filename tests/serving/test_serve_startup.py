"""``serving.serve`` checks everything before it says "Serving" (issue 18): its options, the
port, every reference and version it serves; and its worker processes never run the
caller's script again."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.errors import Conflict, InvalidInput, NotFound, ShipyardError
from shipyard.testing.servers import LOAN_ROW, free_port


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


CONSTANT = """
import os

import numpy as np
import shipyard as sy


class Constant(sy.models.PythonModel):
    def predict(self, df):
        return np.full(len(df), 7.0)


class Homebound(Constant):
    '''Unpickles only in the process that pickled it: every worker fails to start.'''

    def __getstate__(self):
        return {"pid": os.getpid()}

    def __setstate__(self, state):
        if state["pid"] != os.getpid():
            raise RuntimeError("Homebound loads only where it was registered")
"""

PICKLED = """
import sys

import pandas as pd
import shipyard as sy
from constant import {model}
from shipyard import serving
from shipyard.errors import ShipyardError

sy.models.register("pickled", {model}(), X=pd.DataFrame({"x": [0.0, 1.0]}))
try:
    serving.serve("pickled@latest", workers=2, port={port})
except ShipyardError as exc:
    print(f"Error: {exc}", flush=True)
    sys.exit(1)
"""


def start_script(home: Path, tmp_path: Path, model: str, port: int) -> subprocess.Popen[str]:
    """A script registering a pickled ``model`` (defined in a module beside it, or in the
    script itself for ``model="__main__"``) and serving it with two workers; it holds its
    trust (it registered the version) and nobody else's."""
    (tmp_path / "constant.py").write_text(CONSTANT)
    script = tmp_path / "serve_pickled.py"
    source = PICKLED.replace("{port}", str(port))
    if model == "__main__":
        source, model = source.replace("from constant import {model}", CONSTANT), "Constant"
    script.write_text(source.replace("{model}", model))
    environ = {**os.environ, "SHIPYARD_HOME": str(home), "SHIPYARD_USER": "scripter"}
    environ.pop("SHIPYARD_TRUSTED_REGISTRANTS", None)
    return subprocess.Popen(
        [sys.executable, str(script)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_workers_load_a_pickle_the_calling_script_registered(home: Path, tmp_path: Path) -> None:
    port = free_port()
    process = start_script(home, tmp_path, "Constant", port)
    try:
        deadline = time.monotonic() + 180
        answers: list[httpx.Response] = []
        while len(answers) < 4:
            try:
                answers.append(httpx.post(f"http://127.0.0.1:{port}/predict", json={"x": 1.0}))
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the script did not serve:\n{process.communicate(timeout=30)[0]}")
                time.sleep(0.2)
        assert [a.json()["predictions"] for a in answers] == [[7.0]] * 4
        banner = read_until(process, "Serving", deadline)  # once both workers serve
    finally:
        process.terminate()
        output = banner + process.communicate(timeout=60)[0]
    assert "Serving pickled@latest (version 1) on" in output
    assert "Traceback" not in output and "pickle registered by" not in output


def read_until(process: subprocess.Popen[str], text: str, deadline: float) -> str:
    """What ``process`` wrote up to the line holding ``text`` (or its end, or the deadline)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()  # read raw: nothing is left in the pipe object's buffer
    read = b""
    while text.encode() not in read and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            read += chunk
    return read.decode()


@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_server_with_one_line(
    home: Path, tmp_path: Path
) -> None:
    port = free_port()
    process = start_script(home, tmp_path, "Homebound", port)
    try:
        output = process.communicate(timeout=180)[0]  # not started again and again
    finally:
        process.kill()
    assert process.returncode == 1, output
    assert output.strip().splitlines() == [
        "Error: A server worker did not start: pickled@latest (pickled@1) cannot be served: "
        "Homebound loads only where it was registered"
    ]
    assert port_is_free(port)


def test_a_pickle_of_a_class_in_the_script_is_refused_with_workers(
    home: Path, tmp_path: Path
) -> None:
    port = free_port()
    process = start_script(home, tmp_path, "__main__", port)
    try:
        output = process.communicate(timeout=180)[0]
    finally:
        process.kill()
    assert process.returncode == 1, output
    [line] = output.strip().splitlines()
    assert line.startswith(
        "Error: pickled@1 is a __main__.Constant, a class defined in the calling script"
    )
    assert line.endswith("or serve it with workers=1.")
    assert port_is_free(port)

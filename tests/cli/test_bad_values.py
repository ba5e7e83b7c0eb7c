"""Every command with bad values, on a real store: a non-zero exit, ONE line of output, no
traceback, and nothing changed in the store. The table must name every command the app
registers (walked from the Typer app), so a new command without a row fails here."""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import cli_flows as flows
import pytest
import typer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard import monitoring, server
from shipyard.cli import app
from shipyard.config import reset_settings
from shipyard.data import make_loans
from shipyard.serving import deployments

runner = CliRunner()
NO_DIR = "/nonexistent/dir/p.html"
HUGE = "99999999999999999999"
LONG = "x" * 300  # longer than a file name may be
AB = "deployments create d2 --route a=churn@1 --route b=churn@1"

# Commands another test covers with their own bad values (they start servers).
EXEMPT = {
    ("serve",),  # covered by tests/serving/test_serve_startup.py
    ("server",),  # covered by tests/cli/test_serve_cli.py and tests/serving/test_guard.py
}


def _missing(package: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(find_spec(package) is not None, reason=f"{package} is installed")


# Each row: the arguments ({csv}: a CSV of the loans, {tmp}: a writable folder). The store
# holds dataset loans@1, model churn@1, monitor m1 (on loans), deployment d1 (a=churn@1),
# pipeline cli-fan and a run.
CASES: list[Any] = [
    # quickstart: every knob before anything is registered
    "quickstart --automl-budget -1",
    "quickstart --rows 10",
    "quickstart --seed -1",
    # train: the name, the folds, the split's own message, before a run starts
    "train linear -d loans@1 -t default --register 'my model'",
    "train linear -d loans@1 -t application_id --drop applied_at",
    "train svm -d loans@1 -t default",
    "train linear -d loans@1 -t default --split kfold --folds 0",
    "train linear -d loans@1 -t default --split bootstrap",
    "train linear -d loans@1 -t default --test-size 1.5",
    "train linear -d loans@1 -t default --seed -1",
    "train linear -d loans@1 -t default --experiment ''",
    # automl: refused up front, not after a search
    "automl -d loans@1 -t default --trials 0",
    "automl -d loans@1 -t default --trials 2.5",
    "automl -d loans@1 -t default --time-budget nan",
    "automl -d loans@1 -t default --time-budget 2 --trials 1 --html " + NO_DIR,
    "automl -d loans@1 -t default --time-budget 2 --trials 1 --register 'my model'",
    "automl -d loans@1 -t default --time-budget 2 --trials 1 --metric rmse",
    "automl -d loans@1 -t default --time-budget 2 --family svm",
    "automl -d loans@1 -t default --time-budget 2 --sampler nope",
    "automl -d loans@1 -t default --folds 1",
    "automl -d loans@1 -t default --time-budget 2 --presets slow",
    "automl -d loans@1 -t default --time-budget 2 --ensemble 1",
    "automl -d loans@1 -t default --time-budget 2 --ensemble -1",
    "automl -d loans@1 -t default --time-budget 2 --ensemble 2.5",
    "scheduler --interval 0",
    "scheduler --max-runs 0",
    "gc --older-than xyz",
    "gc --older-than 99999999999999d",
    "audit list --limit 0",
    "audit list --model churn --kind dataset",
    "audit verify --head xyz",
    "audit head --bogus",
    # data
    "data register x /nonexistent.csv",
    "data register 'bad name' {csv}",
    "data register x {csv} --tag novalue",
    "data register x {csv} --policy maybe",
    pytest.param("data register x s3://bucket/a.csv", marks=_missing("s3fs")),
    pytest.param("data register x gcs://bucket/a.csv", marks=_missing("gcsfs")),
    "data register x foo://bucket/a.csv",
    "data register x http://127.0.0.1:9/a.csv",
    "data list --json extra",
    "data versions 'bad name'",
    "data show loans@99",
    "data diff loans@1 loans@99",
    "data validate /nonexistent.csv --against loans",
    "data validate 'not a ref' --against loans",
    "data profile loans@1 --html " + NO_DIR,
    "data profile loans@1 --html {tmp}",
    "data profile loans@1 --html " + LONG,
    "data validate " + LONG + " --against loans",
    "data query 'SELECT * FROM loans@1' --limit -5",
    "data query 'SELECT * FROM loans@1' --register-as 'bad name'",
    "data alias loans@1 'bad alias'",
    "data accept loans@99",
    "data accept 'not a ref'",
    "data lineage loans@99",
    # models
    "models list --bogus",
    "models versions nosuch",
    "models show churn@99",
    "models promote churn@1 --to heaven",
    "models rollback churn",
    "models alias churn champion 99",
    "models export churn@1 --atol -1",
    "models export churn@1 --format pmml",
    "models export churn@1 --target default",
    "models compare churn@1",
    "models delete churn@99",
    "models policy set churn {tmp}/missing.yaml",
    "models policy show churn --version 0",
    "models policy history nosuch",
    "models check churn@99 --to champion",
    "models approve churn@1 --for latest",
    "models explain churn@1 --rows 0",
    "models explain churn@1 --data loans@1 --target nope",
    "explain churn@1 --rows /nonexistent.json",
    "explain churn@1 --rows {csv} --top 0",
    "models fairness churn@1 --data loans@1 --target default --sensitive race",
    "models fairness churn@1 --data loans@1 --target default --boot -1",
    "models mitigate churn@1 --data loans@1 --target default -s gender --method reweigh",
    "models mitigate churn@1 --data loans@1 --target outcome -s gender",
    "models card churn@99",
    "models card churn@1 --html --json",
    "models card churn@1 --output " + NO_DIR,
    "models card-set churn@1",
    "models card-set churn@99 --owners me",
    # deployments: each policy's options are checked as they are read
    "deployments create d2 --route a=churn@99",
    "deployments create d2 --route nonsense",
    AB + " --policy nope",
    AB + " --policy canary --step-requests " + HUGE,
    AB + " --policy canary --step-requests 1e23",
    AB + " --policy canary --alpha nan",
    AB + " --policy canary --min-labels -3",
    AB + " --policy fixed --split a=abc",
    "deployments list --bogus",
    "deployments show nosuch",
    "deployments set-policy d1 nope",
    "deployments set-route d1 nosuch churn@1",
    "deployments promote d1 nosuch",
    "deployments rollback d1",
    "deployments delete nosuch",
    "keys create k1 --rate -1",
    "keys create k1 --scope god",
    "keys list --bogus",
    "keys revoke nosuch",
    # monitors and alerts
    "monitors create m2 --dataset loans --reference loans@1 --window -5",
    "monitors create m2 --deployment d1 --window " + HUGE,
    "monitors create m2 --dataset loans --reference loans@1 --every xyz",
    "monitors create m2 --dataset loans --reference loans@1 --drift-share 2",
    "monitors create m2 --dataset loans --reference loans@1 --min-rows 0",
    "monitors create m2 --dataset loans --reference loans@1 --metric-threshold inf",
    "monitors list --bogus",
    "monitors show m1 --last 1e20",
    "monitors show m1 --last " + HUGE,
    "monitors check m1 --due",
    "monitors check m1 --log-dir /nonexistent/logs",
    "monitors run nosuch",
    "monitors watch --poll 0",
    "monitors watch --once --log-dir /nonexistent/logs",
    "monitors watch --once --log-dir " + LONG,
    "monitors report m1 --html " + NO_DIR,
    "monitors report m1 --html {tmp}/m.html --last 0",
    "monitors pause nosuch",
    "monitors resume nosuch",
    "monitors delete nosuch -y",
    "alerts list --limit 1e23",
    "alerts list --status nope",
    "alerts show " + HUGE,
    "alerts show abc",
    "alerts acknowledge 0",
    "alerts ack " + HUGE,
    "alerts resolve 2.5",
    # pipelines
    "pipelines list --bogus",
    "pipelines show cli-fan --html " + NO_DIR,
    "pipelines show cli-fan --limit 0",
    "pipelines run cli-fan -p 'ks=[1,2'",
    "pipelines run cli-fan --workers 0",
    "pipelines run cli-fan --executor nope",
    "pipelines run cli-fan -p nosuch=1",
    "pipelines resume nosuch",
    "pipelines resume nosuch --executor nope",
    "pipelines runs --limit 0",
    "pipelines runs --status nope",
    "pipelines runs 'bad name'",
    "pipelines cancel nosuch",
    "pipelines logs nosuch step",
    "pipelines schedule cli-fan 'bad cron'",
    "pipelines schedule cli-fan '0 3 * * *' --tz Mars/Olympus",
    "pipelines schedule cli-fan '0 3 * * *' --tz " + LONG,
    "pipelines trigger cli-fan --on nope:x",
    "pipelines trigger cli-fan --on labels:d1 --rows 0",
    "pipelines schedules 'bad name'",
    # tracking and the store
    "experiments list --bogus",
    "runs list -n " + HUGE,
    "runs list -n 0",
    "runs show nosuch",
    "runs compare nosuch",
    "runs delete nosuch -y",
    "db upgrade extra",
    # users and tokens of the platform server
    "users create 'bad name'",
    "users create bob --role god",
    "users list --bogus",
    "users role nosuch editor",
    "users role alice god",
    "users disable nosuch",
    "users disable alice",  # the last enabled admin
    "tokens create nosuch",
    "tokens create alice --expires 0d",
    "tokens create alice --expires soon",
    "tokens create alice --name 'bad name'",
    "tokens list --user nosuch",
    "tokens revoke 12345678",
    "tokens revoke nonsense",
    "db current --bogus",
]


def _args(case: Any) -> str:
    return case if isinstance(case, str) else case.values[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a dataset, a model, a monitor, a deployment, a pipeline and a run."""
    root = tmp_path_factory.mktemp("bad-values")
    home = root / "home"
    saved = os.environ.get("SHIPYARD_HOME")
    os.environ["SHIPYARD_HOME"] = str(home)
    reset_settings()
    try:
        frame = make_loans(300, seed=0)
        frame.to_csv(root / "loans.csv", index=False)
        sy.datasets.register("loans", frame)
        X, y = frame[["age", "income"]], frame["default"]
        sy.models.register("churn", LogisticRegression(max_iter=300).fit(X, y), X=X)
        monitoring.create_monitor("m1", dataset="loans", reference="loans@1")
        deployments.create("d1", {"a": "churn@1"})
        sy.pipelines.register(flows.fan)
        server.create_user("alice", "admin")
        with sy.start_run(experiment="e1", name="r1") as run:
            run.log_metric("auc", 0.5)
    finally:
        if saved is None:
            os.environ.pop("SHIPYARD_HOME", None)
        else:
            os.environ["SHIPYARD_HOME"] = saved
        reset_settings()
    return root


def _fingerprint(home: Path) -> dict[str, int]:
    """Rows per non-empty table, and the number of artifact files."""
    with sqlite3.connect(home / "shipyard.db") as conn:
        names = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        counts = {n: conn.execute(f'select count(*) from "{n}"').fetchone()[0] for n in names}
    conn.close()
    counts["artifact files"] = sum(1 for p in (home / "artifacts").rglob("*") if p.is_file())
    return {name: n for name, n in counts.items() if n}


def _paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    children = getattr(command, "commands", None)
    if children is None:
        return [prefix]
    return [path for name, sub in children.items() for path in _paths(sub, (*prefix, name))]


def test_every_command_has_a_bad_value_case() -> None:
    covered = [tuple(shlex.split(_args(case))) for case in CASES]
    missing = [
        " ".join(path)
        for path in _paths(typer.main.get_command(app))
        if path not in EXEMPT and not any(args[: len(path)] == path for args in covered)
    ]
    assert not missing, f"add a bad-value case to CASES for: {', '.join(missing)}"


@pytest.mark.parametrize("case", CASES, ids=_args)
def test_a_bad_value_is_one_line_and_changes_nothing(
    case: str, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    shutil.copytree(template / "home", home)
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    before = _fingerprint(home)
    args = shlex.split(case.format(csv=template / "loans.csv", tmp=tmp_path))
    try:
        result = runner.invoke(app, args, env={"COLUMNS": "60"})
    finally:
        reset_settings()
    lines = result.output.splitlines()
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert _fingerprint(home) == before


@pytest.mark.slow  # a process with every import: ~2 s alone, 10 s on a busy machine
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["quickstart", "--automl-budget", "-1"], "'--automl-budget': '-1' is not a number"),
        (["data", "validate", "/nonexistent.csv", "--against", "x"], "does not exist"),
    ],
)
def test_a_real_process_says_one_line_on_stderr(args: list[str], said: str, tmp_path: Path) -> None:
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "COLUMNS": "60"}
    for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and said in done.stderr, done.stderr

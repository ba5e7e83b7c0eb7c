"""The ``shipyard`` command line: thin commands over the public SDK."""

from __future__ import annotations

import typer

from shipyard._version import __version__
from shipyard.cli import (
    _audit,
    _card,  # noqa: F401  (adds ``models card`` and ``card-set``)
    _data,
    _db,
    _deployments,
    _keys,
    _models,
    _monitors,
    _pipelines,
    _tracking,
    _users,
)
from shipyard.cli._automl import automl_cmd
from shipyard.cli._common import OneLineErrors, state
from shipyard.cli._explain import explain_cmd, models_explain_cmd
from shipyard.cli._fairness import fairness_cmd, mitigate_cmd
from shipyard.cli._gc import gc_cmd
from shipyard.cli._quickstart import quickstart_cmd
from shipyard.cli._scheduler import scheduler_cmd
from shipyard.cli._serve import serve_cmd
from shipyard.cli._server import server_cmd
from shipyard.cli._train import train_cmd

__all__ = ["app", "main"]

app = typer.Typer(
    name="shipyard",
    cls=OneLineErrors,
    help="Shipyard: data to a governed, monitored, self-retraining model service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("quickstart")(quickstart_cmd)
app.command("train")(train_cmd)
app.command("automl")(automl_cmd)
app.command("serve")(serve_cmd)
app.add_typer(_data.app, name="data")
app.add_typer(_models.app, name="models")
_models.app.command("explain")(models_explain_cmd)
app.command("explain")(explain_cmd)
_models.app.command("fairness")(fairness_cmd)
_models.app.command("mitigate")(mitigate_cmd)
app.add_typer(_deployments.app, name="deployments")
app.add_typer(_keys.app, name="keys")
app.add_typer(_monitors.monitors, name="monitors")
app.add_typer(_monitors.alerts, name="alerts")
app.add_typer(_pipelines.app, name="pipelines")
app.command("server")(server_cmd)
app.add_typer(_users.users, name="users")
app.add_typer(_users.tokens, name="tokens")
app.add_typer(_tracking.experiments, name="experiments")
app.add_typer(_tracking.runs, name="runs")
app.add_typer(_db.app, name="db")
app.command("scheduler")(scheduler_cmd)
app.command("gc")(gc_cmd)
app.add_typer(_audit.app, name="audit")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shipyard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state["debug"] = debug


def main() -> None:
    """Entry point of the ``shipyard`` console script."""
    app()

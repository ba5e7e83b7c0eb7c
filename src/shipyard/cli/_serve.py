"""``shipyard serve``: an inference server for one model reference or a deployment."""

from __future__ import annotations

import os

import typer

from shipyard.cli._common import ALLOW_HOST, ALLOW_ORIGIN, INSECURE, handle_errors

TRUST = typer.Option(
    False,
    "--trust",
    help="Load pickled versions (PythonModel, sklearn pickles) whoever registered them: "
    "unpickling runs their code. Without it, only registrants named in "
    "SHIPYARD_TRUSTED_REGISTRANTS.",
)
MAX_ROWS = typer.Option(
    100_000, "--max-rows", help="Answer 413 to requests of more rows than this."
)


@handle_errors
def serve_cmd(
    model: str = typer.Argument(None, help="Model reference, e.g. churn@champion (followed live)."),
    deployment: str = typer.Option(
        None, "--deployment", "-d", help="Serve a named deployment (routes and policy)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", "-p"),
    workers: int = typer.Option(1, "--workers", "-w", help="Server processes."),
    format: str = typer.Option(
        "auto", "--format", help="auto (int8 ONNX, ONNX, then native), onnx or native."
    ),
    max_batch: int = typer.Option(
        64, "--max-batch", help="Most rows per model call (1: no micro-batching)."
    ),
    max_wait: float = typer.Option(
        0.0, "--max-wait", help="Seconds a batch waits for more requests (0: none)."
    ),
    poll: float = typer.Option(
        2.0, "--poll", help="Seconds between checks of aliases and the deployment."
    ),
    log_sample: float = typer.Option(
        1.0, "--log-sample", help="Share of requests in the inference log (0: none)."
    ),
    log_dir: str = typer.Option(
        None,
        "--log-dir",
        help="Inference log folder or fsspec URL (default SHIPYARD_HOME/inference, or "
        "<artifacts URL>/inference in object storage).",
    ),
    auth: bool = typer.Option(
        False, "--auth", help="Require API keys (shipyard keys create) on all but health."
    ),
    max_inflight: int = typer.Option(
        1024, "--max-inflight", help="Answer 503 beyond this many requests in flight."
    ),
    max_rows: int = MAX_ROWS,
    insecure: bool = INSECURE,
    allow_host: list[str] = ALLOW_HOST,
    allow_origin: list[str] = ALLOW_ORIGIN,
    access_log: bool = typer.Option(
        False, "--access-log", help="One JSON line per request on stderr (request id, ...)."
    ),
    trust: bool = TRUST,
) -> None:
    """Serve a model: Open Inference Protocol v2 (/v2/models/NAME/infer), POST /predict,
    /metrics; hot-swaps when the alias moves."""
    from shipyard.serving._run import ServeOptions, start
    from shipyard.serving._startup import flag

    if trust:  # every process this server starts (workers, shadow workers) inherits it
        os.environ["SHIPYARD_TRUSTED_REGISTRANTS"] = "*"
    options = ServeOptions(
        model,
        deployment=deployment,
        host=host,
        port=port,
        workers=workers,
        format=format,
        max_batch=max_batch,
        max_wait=max_wait,
        poll=poll,
        log_sample=log_sample,
        log_dir=log_dir,
        auth=auth,
        max_inflight=max_inflight,
        access_log=access_log,
        max_rows=max_rows,
        insecure=insecure,
        allow_hosts=tuple(allow_host),
        allow_origins=tuple(allow_origin),
    )
    # options checked, port bound, every version loaded, then "Serving ..." (one-line errors)
    start(options, name_of=flag)

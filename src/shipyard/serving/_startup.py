"""What a server checks before it says it is serving: its options, its address and what it
serves, each failure one :class:`~shipyard.errors.ShipyardError` line.

:func:`check_options` refuses a bad value before anything is done, naming the option as the
caller spells it (``max_batch`` in Python, ``--max-batch`` from the CLI: ``name_of``).
:func:`bind` takes the address as uvicorn would (``SO_REUSEADDR``, IPv6 for an address
holding ``:``): a port in use is a :class:`~shipyard.errors.Conflict` suggesting a free one.
:func:`load_served` resolves every reference (a deployment's routes named) and loads and
warms each version as the server will, so a missing version, a pickle nobody trusted or a
model that fails on its own sample is refused here rather than in a traceback after the
banner.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard import models
from shipyard.errors import Conflict, InvalidInput, NotFound, ShipyardError
from shipyard.serving._guard import exposure
from shipyard.serving._slot import warm

__all__ = [
    "FORMATS",
    "Served",
    "bind",
    "check_address",
    "check_loadable_by_workers",
    "check_options",
    "flag",
    "load_served",
    "python_name",
]

FORMATS = ("auto", "onnx", "native")
NameOf = Callable[[str], str]


def python_name(name: str) -> str:
    """An option as a Python caller spells it: the parameter name."""
    return name


def flag(name: str) -> str:
    """An option as the CLI spells it: ``max_batch`` is ``--max-batch``."""
    return "--" + name.replace("_", "-")


def check_options(
    model: str | None,
    deployment: str | None,
    *,
    host: str,
    port: int,
    workers: int = 1,
    format: str = "auto",
    max_batch: int = 64,
    max_wait: float = 0.0,
    poll: float = 2.0,
    log_sample: float = 1.0,
    auth: bool = False,
    insecure: bool = False,
    max_inflight: int = 1024,
    max_rows: int = 100_000,
    log_dir: str | None = None,
    name_of: NameOf = python_name,
) -> str | None:
    """Refuse a bad option (InvalidInput naming it, as ``name_of`` spells it); returns the
    warning to print when keys are off (see ``_guard.exposure``)."""
    _check_target(model, deployment, name_of)
    check_address(host, port, name_of=name_of)
    _check_log_dir(log_dir, name_of)
    checks = [
        ("workers", workers, workers >= 1, "at least 1"),
        ("format", format, format in FORMATS, "one of " + ", ".join(FORMATS)),
        ("max_batch", max_batch, max_batch >= 1, "at least 1 (1: no micro-batching)"),
        ("max_wait", max_wait, 0 <= max_wait <= 1, "between 0 and 1 second"),
        ("poll", poll, poll >= 0, "0 (never) or a number of seconds"),
        ("log_sample", log_sample, 0 <= log_sample <= 1, "a share between 0 and 1"),
        ("max_inflight", max_inflight, max_inflight >= 1, "at least 1"),
        ("max_rows", max_rows, max_rows >= 1, "at least 1"),
    ]
    for name, value, fine, expected in checks:
        if not fine:  # NaN fails every comparison, so it is refused too
            raise InvalidInput(f"{name_of(name)} must be {expected}; got {value!r}.")
    return exposure(host, auth=auth, insecure=insecure)


def check_address(host: str, port: int, *, name_of: NameOf = python_name) -> None:
    """Refuse a port out of range or an empty host (InvalidInput naming the option)."""
    if not 1 <= port <= 65535:
        raise InvalidInput(f"{name_of('port')} must be a port number from 1 to 65535; got {port}.")
    if not host.strip():
        raise InvalidInput(f"{name_of('host')} must name an address, e.g. 127.0.0.1; got ''.")


def _check_log_dir(log_dir: str | None, name_of: NameOf) -> None:
    """A local ``log_dir`` is a folder, or one that can be made: its nearest existing
    ancestor is a folder (a URL is checked when written)."""
    if log_dir is None or "://" in log_dir:
        return
    path = Path(log_dir)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InvalidInput(
            f"{name_of('log_dir')} {log_dir} is not a folder: {existing} is a file. Give the "
            "folder for the inference log."
        )


def _check_target(model: str | None, deployment: str | None, name_of: NameOf) -> None:
    option = name_of("deployment")
    cli = option.startswith("--")
    if model is None and deployment is None:
        given = "a model reference such as churn@champion" if cli else "model='churn@champion'"
        more = f" or {option} NAME" if cli else f" or {option}='fraud'"
        hint = " Try: shipyard models list, shipyard deployments list" if cli else ""
        raise InvalidInput(f"Nothing to serve: pass {given}{more}.{hint}")
    if model is not None and deployment is not None:
        raise InvalidInput(f"Serve a model reference or {option}, not both.")


def bind(host: str, port: int, *, name_of: NameOf = python_name) -> socket.socket:
    """A socket bound to ``host:port`` as uvicorn binds (not listening yet): Conflict when
    the port is in use, InvalidInput for an address this machine cannot listen on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, host, port, name_of) from exc
    sock.set_inheritable(True)
    return sock


def _bind_error(exc: OSError, host: str, port: int, name_of: NameOf) -> ShipyardError:
    if isinstance(exc, socket.gaierror):
        return InvalidInput(
            f"{name_of('host')} {host!r} is not an address this machine can resolve "
            f"({exc.strerror}). Try: {name_of('host')} 127.0.0.1"
        )
    if exc.errno == errno.EADDRINUSE:
        return Conflict(
            f"port {port} on {host} is in use (another server?); "
            f"Try: {_spelled(name_of, 'port', _free_port_near(host, port))}"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return InvalidInput(
            f"{name_of('host')} {host!r} is not an address of this machine. "
            f"Try: {_spelled(name_of, 'host', '127.0.0.1')} (this machine only) or 0.0.0.0"
        )
    if exc.errno == errno.EACCES:
        return InvalidInput(
            f"port {port} on {host} needs privileges to listen on (ports below 1024 do). "
            f"Try: {_spelled(name_of, 'port', 8080)}"
        )
    return InvalidInput(f"Cannot listen on {host} port {port}: {exc.strerror or exc}.")


def _spelled(name_of: NameOf, name: str, value: object) -> str:
    option = name_of(name)
    return f"{option} {value}" if option.startswith("--") else f"{option}={value!r}"


def _free_port_near(host: str, port: int) -> int:
    """The first port after ``port`` free on ``host`` (or any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in [*range(port + 1, min(port + 21, 65536)), 0]:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host.strip("[]"), candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    return 0


@dataclass(frozen=True)
class Served:
    """What a server serves: ``description`` (``churn@champion (version 3)``) and the
    versions it loaded."""

    description: str
    versions: tuple[models.ModelVersion, ...]


def load_served(model: str | None, deployment: str | None, *, format: str = "auto") -> Served:
    """Resolve, load and warm every version ``model`` or ``deployment`` names, as a server
    does (into the process's model cache); returns what is served. A reference that
    resolves to nothing is NotFound naming the deployment's route; a version that fails to
    load or to predict its own sample is one line naming it."""
    if deployment is None:
        assert model is not None
        targets = {model: ""}
    else:
        from shipyard.serving.deployments import default_store

        targets = {}
        for route in default_store().get(deployment).routes:
            targets.setdefault(route.model, f"Deployment {deployment!r}, route {route.name!r}: ")
    served, versions = [], []
    for ref, where in targets.items():
        try:
            info = models.get(ref)
        except (NotFound, InvalidInput) as exc:
            raise type(exc)(where + str(exc)) from exc
        try:
            warm(models.load(info.ref, format=format), info)
        except Exception as exc:
            named = ref if ref == info.ref else f"{ref} ({info.ref})"
            raise ShipyardError(f"{where}{named} cannot be served: {exc}") from exc
        served.append(f"{ref} (version {info.version})")
        versions.append(info)
    if deployment is None:
        return Served(served[0], tuple(versions))
    return Served(f"deployment {deployment}: {', '.join(served)}", tuple(versions))


def check_loadable_by_workers(
    served: Served, workers: int, *, name_of: NameOf = python_name
) -> None:
    """With several workers, refuse a pickle of a class defined in the calling script: the
    worker processes never import the caller's ``__main__``, so they could not load it."""
    if workers == 1:
        return
    for info in served.versions:
        kind = str(info.flavor_meta.get("type", ""))
        if info.flavor_meta.get("format") == "pickle" and kind.startswith("__main__."):
            raise InvalidInput(
                f"{info.ref} is a {kind}, a class defined in the calling script: worker "
                "processes never run that script, so they cannot load it. Define the class "
                "in a module beside the script, import it from there and register again; "
                f"or serve it with {_spelled(name_of, 'workers', 1)}."
            )

"""What every command shares: the console, error handling, tables and JSON output."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from shipyard._time import iso_times
from shipyard.errors import ShipyardError

PIPED_WIDTH = 4096  # columns when stdout is no terminal: a table row stays on one line


class _Console(Console):
    """A console that, writing to a pipe or file (and told no ``COLUMNS``), is as wide as
    its longest line instead of 80 columns, so scripts get one line per table row."""

    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        if self._width is None and not self.is_terminal and "COLUMNS" not in self._environ:
            return ConsoleDimensions(PIPED_WIDTH, found.height)
        return found

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = _Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
state = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])

# the options both servers (shipyard serve, shipyard api) take for their exposure
INSECURE = typer.Option(
    False, "--insecure", help="Serve without --auth on an address other than loopback."
)
ALLOW_HOST = typer.Option(
    [], "--allow-host", help="Also answer this Host name (repeatable; *.domain, * for any)."
)
ALLOW_ORIGIN = typer.Option(
    [],
    "--allow-origin",
    help="Let this browser origin change things, with CORS (repeatable; "
    "e.g. https://app.example.com).",
)


def handle_errors(fn: F) -> F:
    """Print a Shipyard error's message and exit 1; ``--debug`` shows the traceback too."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ShipyardError as exc:
            if state["debug"]:
                err_console.print_exception()
            err_console.print(f"[bold red]Error:[/] {exc}", markup=True, soft_wrap=True)
            raise typer.Exit(1) from exc

    return wrapper  # type: ignore[return-value]


def print_json(data: Any, *, times: bool = True) -> None:
    """Machine-readable output for scripts (``--json``): times (``created_at``, ``at``,
    ``start_time``...) in ISO 8601 with their UTC offset (``shipyard._time``). ``times=False``
    for user data, whose columns are not ours to read."""
    shown = iso_times(data) if times else data
    typer.echo(json.dumps(shown, indent=2, default=_json_default, allow_nan=False))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def when(epoch: float | None) -> str:
    """Local-looking UTC time for tables."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    """A duration such as ``2.4s`` or ``3m12s``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def number(value: Any, digits: int = 6) -> str:
    """A metric value, compact (``digits`` significant digits)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


STATUS_STYLE = {"running": "cyan", "finished": "green", "failed": "red", "killed": "yellow"}


def status(value: str) -> str:
    """A run status, coloured."""
    return f"[{STATUS_STYLE.get(value, 'white')}]{value}[/]"


def table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], no_wrap: int = 0
) -> Table:
    """A rich table with the given header and rows; the first ``no_wrap`` columns never wrap.
    Headers wrap between words only (see :class:`_Table`)."""
    out = _Table(title=title, title_justify="left", header_style="bold")
    for n, column in enumerate(columns):
        header = Text(column, overflow="ellipsis")  # a word too long ends in "…", unbroken
        out.add_column(header, overflow="fold", no_wrap=n < no_wrap)
    for row in rows:
        out.add_row(*[str(cell) for cell in row])
    return out


class _Table(Table):
    """A table whose headers never break mid-word: where every column can be as wide as its
    header's longest word, each is (the values fold instead); where even that does not fit,
    a header's long word ends in "…"."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        words = [max(map(len, str(c.header).split()), default=0) for c in self.columns]
        _, right, _, left = self.padding
        chrome = len(self.columns) * (left + right) + len(self.columns) + 1
        fits = sum(words) + chrome <= options.max_width
        for column, longest in zip(self.columns, words, strict=True):
            column.min_width = longest if fits else None
        yield from super().__rich_console__(console, options)


_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 30) -> str:
    """A unicode sparkline of a series, resampled to at most ``width`` characters."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [values[int(i * step)] for i in range(width - 1)] + [values[-1]]
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(_BLOCKS[int((v - low) / span * (len(_BLOCKS) - 1))] for v in values)


# -- checks of the arguments, before a command changes anything ---------------------------
# A bad value is a one-line usage error naming the option and what it accepts (exit 2):
# counts have a range (a 20-digit limit is refused, not sent to SQLite), numbers are finite,
# a file to write goes into a folder that exists. The root command prints every usage error
# on one line (OneLineErrors).

MAX_COUNT = 1_000_000
"""The largest count an option takes (rows to print, checks to show, trials to run)."""
MAX_SEED = 2**32 - 1
"""The largest seed NumPy and scikit-learn take."""


def int_option(
    default: int | None, *names: str, low: int = 1, high: int = MAX_COUNT, help: str
) -> Any:
    """An integer option from ``low`` to ``high``; ``1e23``, ``2.5`` or 20 digits are refused."""
    return typer.Option(default, *names, help=help, parser=_int_in(low, high))


def int_argument(default: Any, *, low: int = 1, high: int = 2**63 - 1, help: str) -> Any:
    """An integer argument (an id) from ``low`` to ``high``."""
    return typer.Argument(default, help=help, parser=_int_in(low, high))


def float_option(
    default: float | None,
    *names: str,
    low: float | None = None,
    high: float | None = None,
    above: bool = False,
    help: str,
) -> Any:
    """A finite number option, at least ``low`` (more than it with ``above``) and at most
    ``high``; ``nan`` and ``inf`` are refused."""
    return typer.Option(default, *names, help=help, parser=_float_in(low, high, above))


def file_option(*names: str, help: str, required: bool = False) -> Any:
    """A file to write: its folder must exist and it must not be a folder, checked before
    the command does any work."""
    return typer.Option(... if required else None, *names, help=help, parser=_new_file)


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if isinstance(text, int):  # a default
            return text
        try:
            value = int(text)  # spaces around and 1_000 are fine
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise typer.BadParameter(f"{text!r} is not an integer from {low:,} to {high:,}.")
        return value

    return parse


def _float_in(low: float | None, high: float | None, above: bool) -> Callable[[str], float]:
    if low is None:
        expected = "a finite number" if high is None else f"a number at most {high:g}"
    else:
        bound = f"{'more than' if above else 'at least'} {low:g}"
        expected = f"a number {bound}" + ("" if high is None else f" and at most {high:g}")

    def parse(text: str) -> float:
        if isinstance(text, (int, float)):  # a default
            return float(text)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        fits = math.isfinite(value) and (high is None or value <= high)
        if low is not None:
            fits = fits and (value > low if above else value >= low)
        if not fits:
            raise typer.BadParameter(f"{text!r} is not {expected}.")
        return value

    return parse


def _new_file(text: str) -> Path:
    path = Path(text).expanduser()
    folder = path.parent
    if is_folder(path):
        raise typer.BadParameter(f"{text} is a folder; give a file name in it.")
    if not is_folder(folder):
        raise typer.BadParameter(f"folder {folder} does not exist; create it or choose another.")
    if not os.access(folder, os.W_OK):
        raise typer.BadParameter(f"folder {folder} is not writable.")
    if len(path.name.encode()) > 255:
        raise typer.BadParameter(f"file name {path.name[:40]}... is too long.")
    return path


def is_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder; False also for a path the system cannot look up (too
    long a name) rather than an OSError."""
    try:
        return Path(path).is_dir()
    except OSError:
        return False


def path_exists(path: str | Path) -> bool:
    """Whether ``path`` exists (file or folder); False where the system cannot look it up."""
    try:
        return Path(path).exists()
    except OSError:
        return False


# click's base of usage errors (vendored inside Typer since 0.29, click's own before)
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class OneLineErrors(TyperGroup):
    """The root command: a usage error (a missing argument, a bad value, an unknown option)
    is one line on stderr naming the parameter, with where to find help; exit status 2."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except _CLICK_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help, printed as it was made
                if exc.format_message():  # type: ignore[attr-defined]
                    exc.show()  # type: ignore[attr-defined]
            else:
                err_console.print(f"Error: {_one_line(exc)}", markup=False, soft_wrap=True)
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            err_console.print("Aborted.", markup=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _one_line(exc: Any) -> str:
    message = " ".join(exc.format_message().split())
    if message and message[-1] not in ".!?":
        message += "."
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{message} Try: {ctx.command_path} --help"

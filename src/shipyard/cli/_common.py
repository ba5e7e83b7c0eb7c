"""What every command shares: the console, error handling, tables and JSON output."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

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

"""Tables read well in a narrow terminal (headers never break mid-word) and in a pipe (one
line per row, not wrapped at 80 columns)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.data import make_loans

HEADERS = ["version", "rows", "cols", "aliases", "made", "by", "created", "sha256"]


def shown(columns: str | None) -> list[str]:
    """``data versions loans`` as printed to a pipe (no terminal) of ``columns`` width."""
    result = CliRunner().invoke(app, ["data", "versions", "loans"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def register(home: Path) -> None:
    frame = make_loans(100, seed=1)
    sy.datasets.register("loans", frame, aliases=["golden", "the-first-one-we-had"])
    sy.datasets.register("loans", frame.head(50))


def test_piped_tables_are_not_wrapped_at_80_columns(home: Path) -> None:
    register(home)
    lines = shown(None)
    header = next(line for line in lines if "version" in line)
    assert all(word in header.split() for word in HEADERS)  # the header on one line
    rows = [line for line in lines if re.match(r"^│ \d ", line)]
    assert len(rows) == 2 and len(rows[1]) > 80  # one line per version, wider than 80
    assert "golden, the-first-one-we-had" in rows[1]


def test_in_a_narrow_terminal_headers_break_between_words_only(home: Path) -> None:
    register(home)
    for width in ("70", "60"):
        words = " ".join(shown(width)[:6]).split()
        for header in HEADERS:  # whole, or cut short with "…", never split over lines
            assert header in words or any(
                w.endswith("…") and header.startswith(w[:-1]) for w in words
            ), (width, header, words)
        assert not {"versio", "create", "alias"} & set(words)

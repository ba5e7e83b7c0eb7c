"""Static HTML pages of reports (AutoML leaderboards, drift): one shell, written atomically."""

from __future__ import annotations

import html
from pathlib import Path

__all__ = ["write_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table.report { border-collapse: collapse; font-size: 0.85rem; }
table.report th, table.report td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd;
  text-align: left; }
"""


def write_page(path: str | Path, title: str, body: str) -> Path:
    """Write ``body`` (HTML) under a heading ``title`` to ``path``: to a temporary name,
    then renamed, so nobody opens half a report. Tables should use class ``report``."""
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(target)
    return target

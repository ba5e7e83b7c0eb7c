"""Audit verification at scale: 1,000,000 chained entries verified end to end.

The log is built fast in a SQLite file (entries hashed with the store's own
``entry_hash``, bulk-inserted in one transaction, ``audit_head`` set to the last one), then
``shipyard.governance.verify_audit`` walks it as ``shipyard audit verify`` does: a read
snapshot, batches of 20,000 entries, every hash recomputed and every link checked. One
entry is then edited with raw SQL and verified again (the break must be named).

    python bench/governance_audit.py                 # 1,000,000 entries
    python bench/governance_audit.py --entries 100000 --keep

Goal (issue 20): 1,000,000 entries verified in well under a minute. ``main()`` is also
what ``bench/governance.py`` calls for its audit line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ACTIONS = ("registered", "alias", "stage", "promoted", "created", "revoked", "triggered")
KINDS = ("model", "dataset", "deployment", "key", "pipeline", "monitor", "user")


def build(db: Path, entries: int) -> float:
    """A store at ``db`` (migrated) holding ``entries`` chained entries; seconds taken."""
    from shipyard.store import Database
    from shipyard.store._audit import FIELDS, GENESIS, canonical, entry_hash

    Database(f"sqlite:///{db}").engine.dispose()  # create and migrate the schema
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    prev, at = GENESIS, 1.7e9
    columns = ", ".join((*FIELDS, "hash"))
    marks = ", ".join("?" * (len(FIELDS) + 1))
    rows: list[tuple[Any, ...]] = []
    with conn:
        for seq in range(1, entries + 1):
            fields = {
                "seq": seq, "at": at + seq * 0.25, "actor": f"user:u{seq % 17}",
                "origin": f"http 10.0.{seq % 7}.{seq % 250}", "action": ACTIONS[seq % 7],
                "kind": KINDS[seq % 7], "name": f"thing-{seq % 1000}", "version": seq % 50 + 1,
                "before": canonical({"alias": "champion", "version": seq % 50}),
                "after": canonical({"alias": "champion", "version": seq % 50 + 1}),
                "reason": None, "prev": prev,
            }  # fmt: skip
            prev = entry_hash(fields)
            rows.append((*fields.values(), prev))
            if len(rows) >= 50_000:
                conn.executemany(f"insert into audit_log ({columns}) values ({marks})", rows)
                rows.clear()
        if rows:
            conn.executemany(f"insert into audit_log ({columns}) values ({marks})", rows)
        conn.execute("update audit_head set seq = ?, hash = ? where id = 1", (entries, prev))
    conn.close()
    return time.perf_counter() - started


def verify(db: Path) -> Any:
    """``verify_audit()`` on the store at ``db``: its report."""
    os.environ["SHIPYARD_DB_URL"] = f"sqlite:///{db}"
    os.environ.pop("SHIPYARD_URL", None)
    from shipyard.config import reset_settings
    from shipyard.governance import verify_audit

    reset_settings()
    return verify_audit()


def main(entries: int = 1_000_000, keep: bool = False) -> dict[str, Any]:
    """Build, verify, tamper, verify again; prints the figures and returns them."""
    folder = Path(tempfile.mkdtemp(prefix="sy-audit-bench-"))
    try:
        db = folder / "audit.db"
        built = build(db, entries)
        print(f"built {entries:,} chained entries in {built:.1f} s", flush=True)
        report = verify(db)
        assert report.ok and report.entries == entries, report
        rate = entries / report.seconds
        print(f"verify_audit: {entries:,} entries in {report.seconds:.2f} s ({rate:,.0f}/s): ok")
        middle = entries // 2
        with sqlite3.connect(db) as conn:
            conn.execute("update audit_log set actor = 'mallory' where seq = ?", (middle,))
        broken = verify(db)
        assert broken.broken is not None and broken.broken.seq == middle, broken
        print(f"after editing entry {middle:,}: {broken} ({broken.seconds:.2f} s)")
        return {
            "entries": entries,
            "build_s": built,
            "verify_s": report.seconds,
            "entries_per_s": rate,
            "tampered_found": broken.broken.kind,
        }
    finally:
        if keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the store's folder.")
    args = parser.parse_args()
    if args.entries < 1:
        sys.exit("--entries: expected a whole number >= 1")
    main(args.entries, args.keep)


if __name__ == "__main__":
    _cli()

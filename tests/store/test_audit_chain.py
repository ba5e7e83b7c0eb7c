"""The audit chain on SQLite and PostgreSQL: numbering, one chain under concurrent writers,
nothing appended by a failed change, and verification naming each kind of tampering done
with raw SQL."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import text

from shipyard.store import (
    acting,
    append_audit,
    audit_entries,
    audit_head,
    default_database,
    verify_audit_chain,
)
from shipyard.store._audit import FIELDS, entry_hash


def _append(n: int, *, kind: str = "model", name: str = "churn") -> None:
    for i in range(n):
        with default_database().write() as conn:
            append_audit(conn, "registered", kind, name, version=i + 1, after={"v": i + 1})


def _verify(anchor: str | None = None):  # type: ignore[no-untyped-def]
    with default_database().read() as conn:
        return verify_audit_chain(conn, anchor=anchor, batch=3)  # small batches: paging too


def _sql(statement: str, **params: object) -> None:
    with default_database().write() as conn:
        conn.execute(text(statement), params)


def _row(seq: int) -> dict[str, object]:
    with default_database().read() as conn:
        found = conn.execute(text("select * from audit_log where seq = :s"), {"s": seq}).first()
    assert found is not None
    return dict(found._mapping)


def test_chain_numbers_links_and_filters(backend: str) -> None:
    _append(4)
    _append(2, kind="dataset", name="loans")
    with acting("user:ann", "http 10.0.0.7"):
        _append(1, kind="deployment", name="api")
    with default_database().read() as conn:
        everything = audit_entries(conn, limit=100)
        models = audit_entries(conn, kind="model", name="churn", limit=2)
        older = audit_entries(conn, kind="model", name="churn", limit=10, after=models[-1].seq)
        ann = audit_entries(conn, actor="user:ann")
        seq, digest = audit_head(conn)
    assert [e.seq for e in everything] == list(range(7, 0, -1))
    assert [e.seq for e in models] == [4, 3] and [e.seq for e in older] == [2, 1]
    assert [(e.target, e.origin) for e in ann] == [("deployment:api@1", "http 10.0.0.7")]
    assert (seq, digest) == (7, everything[0].hash)
    for newer, older_entry in itertools.pairwise(everything):
        assert newer.prev == older_entry.hash
    assert everything[0].hash == entry_hash(_row(7))
    report = _verify()
    assert report.ok and report.entries == 7 and report.broken is None
    assert _verify(anchor=everything[3].hash).ok  # a head written down earlier is still in it


def test_failed_change_leaves_no_entry(backend: str) -> None:
    _append(1)
    with pytest.raises(RuntimeError), default_database().write() as conn:
        append_audit(conn, "deleted", "model", "churn")
        raise RuntimeError("the change failed")
    with default_database().read() as conn:
        assert audit_head(conn)[0] == 1
        assert [e.action for e in audit_entries(conn)] == ["registered"]
    assert _verify().ok


def test_concurrent_writers_keep_one_chain(backend: str) -> None:
    errors: list[BaseException] = []

    def write(who: int) -> None:
        try:
            _append(10, name=f"m{who}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = _verify()
    assert report.ok and report.entries == 40 and report.head_seq == 40


@pytest.mark.parametrize(
    ("tamper", "seq", "kind"),
    [
        ("edit", 3, "edited"),
        ("edit-rehash", 3, "edited"),
        ("insert", 3, "inserted"),
        ("append-past-head", 7, "inserted"),
        ("delete", 3, "deleted"),
        ("delete-renumber", 3, "deleted"),
        ("truncate", 5, "truncated"),
        ("head", 6, "head mismatch"),
    ],
)
def test_verify_names_tampering(backend: str, tamper: str, seq: int, kind: str) -> None:
    _append(6)
    _TAMPER[tamper]()
    report = _verify()
    assert not report.ok and report.broken is not None
    assert (report.broken.seq, report.broken.kind) == (seq, kind), report.broken.message
    assert str(report).startswith(f"Audit log BROKEN at entry {seq} ({kind})")


def test_verify_against_a_kept_head_catches_a_rewrite(backend: str) -> None:
    _append(3)
    kept = _row(3)["hash"]
    _sql("delete from audit_log where seq = 3")  # then the head rewritten to match
    _sql("update audit_head set seq = 2, hash = (select hash from audit_log where seq = 2)")
    assert _verify().ok  # the chain alone cannot tell
    report = _verify(anchor=str(kept))
    assert report.broken is not None and report.broken.kind == "head mismatch"
    assert str(kept) in report.broken.message


def _rehash(seq: int) -> None:
    row = _row(seq)
    _sql("update audit_log set hash = :h where seq = :s", h=entry_hash(row), s=seq)


def _edit_rehash() -> None:
    _sql("update audit_log set actor = 'mallory' where seq = 3")
    _rehash(3)


def _shift(low: int, by: int) -> None:
    """Renumber entries from ``low`` on by ``by`` (through negative numbers: no collision)."""
    _sql("update audit_log set seq = -seq where seq >= :low", low=low)
    _sql("update audit_log set seq = -seq + :by where seq < 0", by=by)


def _insert() -> None:
    _shift(3, 1)
    forged = {**_row(2), "seq": 3, "action": "deleted", "prev": _row(2)["hash"]}
    forged["hash"] = entry_hash({k: forged[k] for k in FIELDS})
    columns = ", ".join(forged)
    _sql(f"insert into audit_log ({columns}) values (:{', :'.join(forged)})", **forged)
    _sql("update audit_head set seq = 7, hash = (select hash from audit_log where seq = 7)")


def _append_past_head() -> None:
    forged = {**_row(6), "seq": 7, "prev": _row(6)["hash"]}
    forged["hash"] = entry_hash({k: forged[k] for k in FIELDS})
    _sql(f"insert into audit_log ({', '.join(forged)}) values (:{', :'.join(forged)})", **forged)


def _delete_renumber() -> None:
    _sql("delete from audit_log where seq = 3")
    _shift(4, -1)
    _sql("update audit_head set seq = 5, hash = (select hash from audit_log where seq = 5)")


_TAMPER = {
    "edit": lambda: _sql("update audit_log set after = :a where seq = 3", a='{"v":99}'),
    "edit-rehash": _edit_rehash,
    "insert": _insert,
    "append-past-head": _append_past_head,
    "delete": lambda: _sql("delete from audit_log where seq = 3"),
    "delete-renumber": _delete_renumber,
    "truncate": lambda: _sql("delete from audit_log where seq >= 5"),
    "head": lambda: _sql("update audit_head set hash = :h", h="f" * 64),
}


def test_verification_hashes_as_appending_does(backend: str) -> None:
    """Text beyond ASCII, quotes, new lines, large and small numbers: the verifier's
    encoder gives the bytes ``entry_hash`` hashed."""
    with default_database().write() as conn, acting("user:zoë", 'http "::1"\n'):
        append_audit(
            conn, "alias", "model", "prévision-😀", version=2**31 - 1,
            before={"a": 1e-300, "b": [1.5, None, True]}, after={"ü": "line\nbreak\t\\"},
            reason="weil\u2028es ging",
        )  # fmt: skip
    report = _verify()
    assert report.ok and report.entries == 1

"""The contract of an evidence store (``serving._evidence.EvidenceStore``): checks any
backend passes.

Each ``check_*`` function takes a store (possibly shared with other checks: each uses a
deployment id of its own) and raises AssertionError naming what failed; ``CHECKS`` lists
them so a test can parametrize over (backend, check)::

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_evidence_contract(store, check):
        check(store)
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from shipyard.serving._evidence import Batch, EvidenceStore, Feedback, Stamp, value_key
from shipyard.serving._stats import RouteStats

__all__ = [
    "CHECKS",
    "check_concurrent_feedback_counts_once",
    "check_counts_add_up",
    "check_deployments_apart",
    "check_feedback_before_its_ticket",
    "check_feedback_counts_once_in_its_period",
    "check_forget",
    "check_periods",
]


def _deployment() -> str:
    return "contract-" + uuid.uuid4().hex[:12]


def _stats(requests: int = 0, errors: int = 0, seconds: tuple[float, ...] = ()) -> RouteStats:
    stats = RouteStats(requests=requests, errors=errors)
    for value in seconds:
        stats.model_time.add(value)
    return stats


def _ticket(route: str, period: str, prediction: object) -> Stamp:
    return Stamp(route, period, value_key(prediction))


def check_counts_add_up(store: EvidenceStore) -> None:
    """Deltas pushed twice add up, per (route, period); a key never pushed is empty."""
    d = _deployment()
    store.push(d, Batch({("a", "p1"): _stats(3, 1, (0.01, 0.02)), ("b", "p1"): _stats(2)}))
    store.push(d, Batch({("a", "p1"): _stats(4, 0, (0.01,)), ("a", "p2"): _stats(7)}))
    got = store.totals(d, [("a", "p1"), ("b", "p1"), ("a", "p2"), ("c", "p1")])
    assert set(got) == {("a", "p1"), ("b", "p1"), ("a", "p2"), ("c", "p1")}, "every key given"
    a = got[("a", "p1")]
    assert (a.requests, a.errors, a.model_time.total) == (7, 1, 3), f"a/p1 added up: {a}"
    assert got[("b", "p1")].requests == 2 and got[("a", "p2")].requests == 7, "kept apart"
    assert got[("c", "p1")].empty, "a key never pushed is empty"
    want = _stats(0, 0, (0.01, 0.02, 0.01)).model_time.counts
    assert (a.model_time.counts == want).all(), "model-time buckets add up"
    assert store.totals(d, []) == {}, "no keys, nothing"


def check_feedback_counts_once_in_its_period(store: EvidenceStore) -> None:
    """A label counts once per request (the first posted), correct when it equals the
    prediction (1 == 1.0), into the ticket's own period; rewards likewise, with squares."""
    d = _deployment()
    tickets = [("r1", _ticket("a", "p1", 1)), ("r2", _ticket("a", "p1", "yes"))]
    tickets.append(("r3", _ticket("b", "p1", 0)))
    feedback = [Feedback("r1", value_key(1.0), 0.5), Feedback("r2", value_key("no"), None)]
    store.push(d, Batch(tickets=tickets, feedback=feedback))
    again = [Feedback("r1", value_key(0), 2.0), Feedback("r2", value_key("yes"), 1.0)]
    store.push(d, Batch({("a", "p2"): _stats(1)}, feedback=again))
    a = store.totals(d, [("a", "p1")])[("a", "p1")]
    assert (a.labelled, a.correct) == (2, 1.0), f"first label of each, once: {a}"
    assert (a.rewarded, a.rewards, a.rewards_sq) == (2, 1.5, 1.25), f"rewards once: {a}"
    assert store.totals(d, [("a", "p2")])[("a", "p2")].labelled == 0, "not the next period's"
    assert store.totals(d, [("b", "p1")])[("b", "p1")].empty, "another route's untouched"
    found = store.lookup(d, ["r1", "r3", "nope"])
    assert found == {"r1": ("a", "p1"), "r3": ("b", "p1")}, f"lookup: {found}"


def check_feedback_before_its_ticket(store: EvidenceStore) -> None:
    """Feedback for a request not yet ticketed waits for the ticket, then counts once."""
    d = _deployment()
    store.push(d, Batch(feedback=[Feedback("early", value_key(1), 1.0)]))
    assert store.lookup(d, ["early"]) == {}, "no ticket yet"
    assert store.totals(d, [("a", "p")])[("a", "p")].empty, "nothing to credit yet"
    store.push(d, Batch(tickets=[("early", _ticket("a", "p", 1))]))
    got = store.totals(d, [("a", "p")])[("a", "p")]
    assert (got.labelled, got.correct, got.rewarded) == (1, 1.0, 1), f"credited: {got}"
    store.push(d, Batch(feedback=[Feedback("early", value_key(1), 1.0)]))
    got = store.totals(d, [("a", "p")])[("a", "p")]
    assert (got.labelled, got.rewarded) == (1, 1), "posted again: still once"


def check_concurrent_feedback_counts_once(store: EvidenceStore) -> None:
    """Four writers pushing the same labels and rewards at once: each request counted once,
    and every writer's deltas kept."""
    d = _deployment()
    ids = [f"q{i}" for i in range(60)]
    store.push(d, Batch(tickets=[(i, _ticket("a", "p", 1)) for i in ids]))
    start, errors = threading.Barrier(4), []

    def writer() -> None:
        try:
            start.wait(timeout=30)
            for chunk in range(0, 60, 15):
                items = [Feedback(i, value_key(1), 1.0) for i in ids[chunk : chunk + 15]]
                store.push(d, Batch({("a", "p"): _stats(5)}, feedback=items))
        except Exception as exc:  # reported below: a thread's failure must fail the check
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, f"a writer failed: {errors[0]!r}" if errors else ""
    got = store.totals(d, [("a", "p")])[("a", "p")]
    assert (got.labelled, got.correct, got.rewarded) == (60, 60.0, 60), f"once each: {got}"
    assert got.requests == 4 * 4 * 5, f"every delta kept: {got.requests}"


def check_periods(store: EvidenceStore) -> None:
    """An epoch's period began where it was first seen; seen again after another epoch,
    it begins anew; a worker behind the others gets a period of its own."""
    d = _deployment()
    first = store.begin(d, "step0", 3)
    assert store.begin(d, "step0", 5) == first, "same epoch, later revision: same period"
    second = store.begin(d, "step1", 6)
    assert second not in (first, store.begin(d, "step0", 4)), "behind: a period of its own"
    assert store.begin(d, "step1", 9) == second, "the current period holds"
    again = store.begin(d, "step0", 10)
    assert again not in (first, second), "an epoch seen again begins a new period"
    assert store.begin(_deployment(), "step0", 3) == first, "periods name epoch and revision"


def check_deployments_apart(store: EvidenceStore) -> None:
    """Two deployments' counts, tickets and feedback never mix."""
    one, two = _deployment(), _deployment()
    store.push(one, Batch({("a", ""): _stats(2)}, tickets=[("x", _ticket("a", "", 1))]))
    store.push(two, Batch(feedback=[Feedback("x", value_key(1), None)]))
    assert store.totals(one, [("a", "")])[("a", "")].labelled == 0, "feedback of another"
    assert store.totals(two, [("a", "")])[("a", "")].empty, "counts of another"
    assert store.lookup(two, ["x"]) == {}, "tickets of another"


def check_forget(store: EvidenceStore) -> None:
    """A forgotten deployment keeps nothing; another keeps everything."""
    gone, kept = _deployment(), _deployment()
    for d in (gone, kept):
        store.push(d, Batch({("a", "p"): _stats(2)}, tickets=[("x", _ticket("a", "p", 1))]))
        store.begin(d, "e", 1)
    store.forget(gone)
    assert store.totals(gone, [("a", "p")])[("a", "p")].empty and not store.lookup(gone, ["x"])
    assert store.begin(gone, "e", 5) == store.begin(gone, "e", 6), "periods start over"
    assert store.totals(kept, [("a", "p")])[("a", "p")].requests == 2, "the other kept"
    assert store.lookup(kept, ["x"]) == {"x": ("a", "p")}


CHECKS: tuple[Callable[[EvidenceStore], None], ...] = (
    check_counts_add_up,
    check_feedback_counts_once_in_its_period,
    check_feedback_before_its_ticket,
    check_concurrent_feedback_counts_once,
    check_periods,
    check_deployments_apart,
    check_forget,
)

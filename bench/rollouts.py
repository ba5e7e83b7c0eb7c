"""Rollout decisions: do canaries decide right, and what do they cost the clients?

Part 1, decisions (simulated, thousands of canaries): traffic with known truths goes
through the canary judge that ships (``serving.policies.canary.judge``) and, side by side,
through the anchor: a threshold rule on each interval's raw figures — the shape of the
analysis checks in Argo Rollouts and Flagger (a metric compared with a limit at each
interval), and what Shipyard's judge did before its sequential tests. Each simulated
canary walks the default steps (5, 25, 50, 100%; 200 candidate requests a step) at a stated
request rate and poll interval; half the answered requests get a label; model times are
log-normal. The shipped server judges on every poll and, for errors, on the request path
(each failed candidate request consults the judge at once); the anchor only polls.

Truths: ``equal`` (same accuracy 0.90, error rate 0.2%, model time), ``at its limits``
(1% errors and accuracy 0.88: exactly what the canary allows), ``slightly worse``
(accuracy 0.86: twice the allowed drop of 0.02), ``much worse`` (accuracy 0.50), ``slower``
(model time ×5 against an allowed ×2), ``error-prone`` (5% and 10% errors against an
allowed 1%), ``failing`` (every request fails). Clearly worse: much worse, slower, 10%
errors, failing.

Reported per truth and judge: rolled back, promoted, undecided; a false rollback is an equal
candidate rolled back, a missed rollback a worse one promoted; candidate requests to the
decision (median); the step a bad candidate was stopped in; failed requests served
against the step's error budget (1% of 200 = 2). A false rollback is an equal candidate or
one at its limits rolled back.

A/B splits (simulated): a 50/50 ``fixed`` split on accuracy with ``stop_when_significant``,
judged every 100 labelled requests: with equal routes (how often a winner is named: the
false-conclusion rate, goal ≤ 5%), and with b 0.02 and 0.05 better (how often and how fast
it is found).

Part 2, live (real servers over HTTP; ``--live``): a failing candidate under load with 1 and
2 workers (failed requests against the budget), a blue-green switch under load (failed
requests), and a CPU-bound shadow (the primary's p50 / p99 with and without it, at a stated
load).

Goals: false rollbacks ≤ 5%; a clearly worse candidate stopped within its first step;
failed requests within the error budget; 0 failed requests on switches; a shadow costs the
primary's p99 ≤ 10%.

Run: ``python bench/rollouts.py`` (decisions, ~1 min) or ``python bench/rollouts.py --live``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from _common import log, source_state
from shipyard.serving._stats import RouteStats
from shipyard.serving.policies import check_policy
from shipyard.serving.policies.canary import judge as shipped_judge

Judge = Callable[[dict[str, Any], RouteStats, RouteStats], Any]


@dataclass(frozen=True)
class Truth:
    """What a route really does."""

    accuracy: float = 0.90
    error_rate: float = 0.002
    model_ms: float = 2.0  # median model time


@dataclass(frozen=True)
class Scenario:
    name: str
    candidate: Truth
    bad: bool  # should be rolled back
    clearly_bad: bool  # should be stopped within its first step


BASELINE = Truth()
SCENARIOS = (
    Scenario("equal", Truth(), bad=False, clearly_bad=False),
    Scenario(
        "at its limits (1% errors, acc 0.88)",
        Truth(accuracy=0.88, error_rate=0.01),
        bad=False,
        clearly_bad=False,
    ),
    Scenario("slightly worse (acc 0.86)", Truth(accuracy=0.86), bad=True, clearly_bad=False),
    Scenario("much worse (acc 0.50)", Truth(accuracy=0.50), bad=True, clearly_bad=True),
    Scenario("slower (×5 model time)", Truth(model_ms=10.0), bad=True, clearly_bad=True),
    Scenario("error-prone (5% errors)", Truth(error_rate=0.05), bad=True, clearly_bad=False),
    Scenario("error-prone (10% errors)", Truth(error_rate=0.10), bad=True, clearly_bad=True),
    Scenario("failing (every request)", Truth(error_rate=1.0), bad=True, clearly_bad=True),
)


@dataclass
class Outcome:
    decision: str  # rolled-back, promoted, undecided
    step: int  # the step it was decided in
    candidate_requests: int  # candidate requests (answered and failed) until the decision
    failures: int  # candidate requests that failed, all steps


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def share(self, decision: str) -> float:
        return sum(o.decision == decision for o in self.outcomes) / len(self.outcomes)


# -- the anchor: thresholds on each interval's raw figures --------------------------------


def threshold_judge(policy: dict[str, Any], baseline: RouteStats, candidate: RouteStats) -> Any:
    """Roll back when a raw figure crosses its limit, advance after ``step_requests``: the
    rule of Argo Rollouts' and Flagger's threshold analyses, and Shipyard's before this
    change. Returns a (kind, policy) pair or None."""
    need = int(policy["step_requests"])
    why = None
    if candidate.errors > float(policy["max_error_rate"]) * need:
        why = "errors"
    elif candidate.requests >= need:
        base_p99, cand_p99 = baseline.p99(), candidate.p99()
        base_acc, cand_acc = baseline.accuracy(), candidate.accuracy()
        enough = min(baseline.labelled, candidate.labelled) >= int(policy["min_labels"])
        if candidate.errors / candidate.requests > policy["max_error_rate"]:
            why = "error rate"
        elif base_p99 and cand_p99 and cand_p99 > policy["max_latency_ratio"] * base_p99:
            why = "latency"
        elif (
            enough
            and base_acc is not None
            and cand_acc is not None
            and cand_acc < base_acc - policy["max_metric_drop"]
        ):
            why = "accuracy"
    if why is not None:
        return ("canary-rolled-back", {**policy, "status": "rolled_back"})
    if candidate.requests < need:
        return None
    step = int(policy["step"]) + 1
    if step >= len(policy["steps"]) - 1:
        return ("canary-promoted", {**policy, "status": "promoted"})
    return ("canary-step", {**policy, "step": step})


def _kind_and_policy(decision: Any) -> tuple[str, dict[str, Any]] | None:
    if decision is None:
        return None
    if isinstance(decision, tuple):
        return decision
    return decision.kind, decision.policy


# -- the simulation -----------------------------------------------------------------------


def _serve(
    rng: np.random.Generator, stats: RouteStats, truth: Truth, answered: int, label_rate: float
) -> None:
    """``answered`` successful requests of a route: model times, labels."""
    if answered <= 0:
        return
    stats.requests += answered
    times = rng.lognormal(np.log(truth.model_ms / 1e3), 0.35, answered)
    stats.model_time.add_many(times)
    labels = int(rng.binomial(answered, label_rate))
    stats.labelled += labels
    stats.correct += float(rng.binomial(labels, truth.accuracy))


def simulate(
    scenario: Scenario,
    judge: Judge,
    rng: np.random.Generator,
    *,
    per_poll: int,
    request_path: bool,
    step_requests: int = 200,
    label_rate: float = 0.5,
    cap: int = 400_000,
) -> Outcome:
    """One canary from its first step to a decision (or ``cap`` requests)."""
    given = {"step_requests": step_requests}
    policy = check_policy("canary", ["baseline", "candidate"], given)
    base, cand = RouteStats(), RouteStats()
    seen = failures = 0
    while seen < cap:
        share = float(policy["steps"][int(policy["step"])]) / 100
        n_cand = int(rng.binomial(per_poll, share))
        _serve(rng, base, BASELINE, per_poll - n_cand, label_rate)
        fails = int(rng.binomial(n_cand, scenario.candidate.error_rate))
        seen += n_cand
        if request_path and fails:
            # the server consults the judge after each failed request: the failures fall at
            # random places among the candidate's requests, the answered ones in between
            places = np.sort(rng.choice(n_cand, fails, replace=False))
            done = 0
            for place in places:
                _serve(rng, cand, scenario.candidate, int(place) - done, label_rate)
                done = int(place) + 1
                cand.errors += 1
                failures += 1
                early = _kind_and_policy(judge(policy, base, cand))
                if early is not None and early[0] == "canary-rolled-back":
                    seen -= n_cand - done
                    return Outcome("rolled-back", int(policy["step"]), seen, failures)
            _serve(rng, cand, scenario.candidate, n_cand - done, label_rate)
        else:
            cand.errors += fails
            failures += fails
            _serve(rng, cand, scenario.candidate, n_cand - fails, label_rate)
        decision = _kind_and_policy(judge(policy, base, cand))
        if decision is None:
            continue
        kind, policy = decision
        if kind == "canary-rolled-back":
            return Outcome("rolled-back", int(policy["step"]), seen, failures)
        if kind == "canary-promoted":
            return Outcome("promoted", int(policy["step"]), seen, failures)
        base.reset()
        cand.reset()
    return Outcome("undecided", int(policy["step"]), seen, failures)


def decisions(
    runs: int, rate: float, poll: float, seed: int, step_requests: int = 200
) -> list[dict[str, Any]]:
    """Every scenario through both judges, ``runs`` canaries each."""
    per_poll = max(1, round(rate * poll))
    judges: tuple[tuple[str, Judge, bool], ...] = (
        ("shipyard", shipped_judge, True),
        ("thresholds", threshold_judge, False),
    )
    rows = []
    for scenario in SCENARIOS:
        for name, judge, request_path in judges:
            rng = np.random.default_rng(seed)
            started = time.perf_counter()
            tally = Tally(
                [
                    simulate(
                        scenario,
                        judge,
                        rng,
                        per_poll=per_poll,
                        request_path=request_path,
                        step_requests=step_requests,
                    )
                    for _ in range(runs)
                ]
            )
            rows.append(_row(scenario, name, tally, time.perf_counter() - started))
            log(f"{scenario.name} / {name}: {rows[-1]}")
    return rows


def _row(scenario: Scenario, judge: str, tally: Tally, seconds: float) -> dict[str, Any]:
    out = tally.outcomes
    wrong = "promoted" if scenario.bad else "rolled-back"
    stopped_first = (
        sum(o.decision == "rolled-back" and o.step == 0 for o in out) / len(out)
        if scenario.bad
        else None
    )
    return {
        "truth": scenario.name,
        "judge": judge,
        "clearly_bad": scenario.clearly_bad,
        "rolled_back": tally.share("rolled-back"),
        "promoted": tally.share("promoted"),
        "undecided": tally.share("undecided"),
        "wrong": tally.share(wrong),
        "stopped_in_first_step": stopped_first,
        "median_requests": statistics.median(o.candidate_requests for o in out),
        "max_failures": max(o.failures for o in out),
        "median_failures": statistics.median(o.failures for o in out),
        "seconds": round(seconds, 2),
    }


def print_decisions(
    rows: list[dict[str, Any]], runs: int, rate: float, poll: float, step_requests: int
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    table = Table(title=f"Canary decisions: {runs} simulated canaries per row")
    for column in (
        "Truth", "Judge", "Rolled back", "Promoted", "Undecided", "Wrong", "Stopped in step 1",
        "Requests to decide", "Failed requests (median / max)", "Goal", "Result",
    ):  # fmt: skip
        table.add_column(column, overflow="fold")
    for row in rows:
        goal, met = _goal(row)
        table.add_row(
            row["truth"],
            row["judge"],
            f"{row['rolled_back']:.1%}",
            f"{row['promoted']:.1%}",
            f"{row['undecided']:.1%}",
            f"{row['wrong']:.1%}",
            "—" if row["stopped_in_first_step"] is None else f"{row['stopped_in_first_step']:.1%}",
            f"{row['median_requests']:,.0f}",
            f"{row['median_failures']:,.0f} / {row['max_failures']:,}",
            goal,
            {True: "[green]met[/]", False: "[red]missed[/]", None: "—"}[met],
        )
    console.print(table)
    console.print(
        f"  setup: {rate:,.0f} requests/s, judged every {poll:g} s ({round(rate * poll)} requests "
        f"a poll); steps 5, 25, 50, 100%; {step_requests} candidate requests a step; half the "
        f"answers labelled; error budget 1% of a step ({step_requests // 100} failures); "
        "alpha 0.05 where the judge tests."
    )
    console.print(f"  source: {source_state()}")


def _goal(row: dict[str, Any]) -> tuple[str, bool | None]:
    if row["stopped_in_first_step"] is None:
        return "false rollbacks ≤ 5%", row["rolled_back"] <= 0.05
    if row["truth"].startswith("failing"):
        return "failures ≤ budget (2)", row["max_failures"] <= 2
    if row["clearly_bad"]:
        return "stopped in step 1", row["stopped_in_first_step"] >= 0.95
    return "reported", None  # a small harm: how often it gets through is reported


# -- A/B splits that stop when significant -----------------------------------------------

AB_TRUTHS = (("equal (accuracy 0.90 both)", 0.90), ("b better (0.92 vs 0.90)", 0.92),
             ("b much better (0.95 vs 0.90)", 0.95))  # fmt: skip


def ab_runs(runs: int, seed: int, per_poll: int = 100, cap: int = 20_000) -> list[dict[str, Any]]:
    """A 50/50 ``fixed`` split on accuracy with ``stop_when_significant``, judged every
    ``per_poll`` labelled requests until it concludes (or ``cap`` requests): how often it
    names a winner that is not better (equal truth), how often and how fast it finds b."""
    from shipyard.serving.policies import POLICIES

    fixed = POLICIES["fixed"]
    rows = []
    for name, better in AB_TRUTHS:
        rng = np.random.default_rng(seed)
        winners: list[str | None] = []
        spent: list[int] = []
        for _ in range(runs):
            policy = fixed.check(["a", "b"], {"split": {"a": 50, "b": 50},
                                              "stop_when_significant": True})  # fmt: skip
            stats = {"a": RouteStats(), "b": RouteStats()}
            seen, winner = 0, None
            while seen < cap and winner is None:
                n_b = int(rng.binomial(per_poll, 0.5))
                for route, n, accuracy in (("a", per_poll - n_b, 0.90), ("b", n_b, better)):
                    stats[route].requests += n
                    stats[route].labelled += n
                    stats[route].correct += float(rng.binomial(n, accuracy))
                seen += per_poll
                decision = fixed.judge(policy, stats)
                if decision is not None:
                    winner = max(decision.weights, key=lambda r: decision.weights[r])
            winners.append(winner)
            spent.append(seen)
        concluded = [s for w, s in zip(winners, spent, strict=True) if w is not None]
        rows.append({
            "truth": name,
            "a wins": winners.count("a") / runs,
            "b wins": winners.count("b") / runs,
            "undecided": winners.count(None) / runs,
            "median_requests": statistics.median(concluded) if concluded else None,
            "equal": better == 0.90,
        })  # fmt: skip
        log(f"A/B {name}: {rows[-1]}")
    return rows


def print_ab(rows: list[dict[str, Any]], runs: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    table = Table(title=f"A/B with --stop-when-significant: {runs} simulated tests per row")
    for column in ("Truth", "a wins", "b wins", "Undecided (20,000 requests)",
                   "Requests to conclude (median)", "Goal", "Result"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for row in rows:
        wrong = row["a wins"] + (row["b wins"] if row["equal"] else 0.0)
        goal = "a winner named ≤ 5%" if row["equal"] else "wrong winner ≤ 5%"
        table.add_row(
            row["truth"], f"{row['a wins']:.1%}", f"{row['b wins']:.1%}",
            f"{row['undecided']:.1%}",
            "—" if row["median_requests"] is None else f"{row['median_requests']:,.0f}",
            goal, "[green]met[/]" if wrong <= 0.05 else "[red]missed[/]",
        )  # fmt: skip
    console.print(table)
    console.print(
        "  setup: 50/50 fixed split, metric accuracy, every request labelled, alpha 0.05."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=400, help="canaries per truth and judge")
    parser.add_argument("--rate", type=float, default=680.0, help="requests per second")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between judgements")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--step-requests",
        type=int,
        default=200,
        help="candidate requests a step (longer steps catch smaller harms)",
    )
    parser.add_argument("--live", action="store_true", help="also run the live part")
    args = parser.parse_args(argv)
    rows = decisions(args.runs, args.rate, args.poll, args.seed, args.step_requests)
    print_decisions(rows, args.runs, args.rate, args.poll, args.step_requests)
    ab_count = max(20, args.runs // 4)
    print_ab(ab_runs(ab_count, args.seed), ab_count)
    if args.live:
        from _rollouts_live import run_live

        run_live()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

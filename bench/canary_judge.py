"""How often the canary judge rolls back a candidate as good as its baseline, how often it
misses a worse one, and how many candidate requests it takes to decide: simulated
rollouts through ``serving.policies.canary.judge`` with its defaults.

    python bench/canary_judge.py            # 200 rollouts per scenario (~2-4 minutes)
    python bench/canary_judge.py --sims 50  # a smoke run
    python bench/canary_judge.py --step-requests 2000 --alpha 0.05

Each rollout walks the policy's steps: requests go to the candidate at the step's share,
the judge looks after every 20 requests (peeking) and after every candidate error (the
circuit breaker), the statistics start over at each step, as on a server. Half the
requests get a label. Model times are log-normal (median 2 ms) on both routes.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

import numpy as np

from shipyard.serving._stats import RouteStats
from shipyard.serving.policies import check_policy
from shipyard.serving.policies.canary import judge

LOOK_EVERY = 20
LABELLED = 0.5


@dataclass(frozen=True)
class Route:
    error_rate: float
    accuracy: float
    slow: float = 1.0  # model time multiplier


def _step(policy: dict, base: Route, cand: Route, rng: np.random.Generator) -> tuple[str, int]:
    """One step: ('step' | 'rolled-back', candidate requests taken)."""
    share = float(policy["steps"][int(policy["step"])]) / 100
    stats = {"b": RouteStats(), "c": RouteStats()}
    took = 0
    for sent in range(1, 200_000):
        route, spec = ("c", cand) if rng.random() < share else ("b", base)
        s = stats[route]
        failed = rng.random() < spec.error_rate
        if failed:
            s.errors += 1
        else:
            s.requests += 1
            s.model_time.add(float(rng.lognormal(np.log(0.002), 0.3)) * spec.slow)
            if rng.random() < LABELLED:
                s.labelled += 1
                s.correct += float(rng.random() < spec.accuracy)
        took += route == "c"
        if sent % LOOK_EVERY == 0 or (failed and route == "c"):
            decision = judge(policy, stats["b"], stats["c"])
            if decision is not None:
                kind = "rolled-back" if decision.kind == "canary-rolled-back" else "step"
                policy.update(decision.policy)
                return kind, took
    raise RuntimeError("no decision")


def rollout(base: Route, cand: Route, rng: np.random.Generator, params: dict) -> tuple[bool, int]:
    """(rolled back, candidate requests until the decision)."""
    policy = check_policy("canary", ["b", "c"], params)
    total = 0
    while policy["status"] == "running":
        kind, took = _step(policy, base, cand, rng)
        total += took
        if kind == "rolled-back":
            return True, total
    return False, total


SCENARIOS = {
    "equal (errors 0.2%, accuracy 0.90)": Route(0.002, 0.90),
    "at its limits (errors 1%, accuracy 0.88)": Route(0.01, 0.88),
    "errors 2% (2x the limit)": Route(0.02, 0.90),
    "errors 10%": Route(0.10, 0.90),
    "accuracy 0.85 (drop 0.05)": Route(0.002, 0.85),
    "accuracy 0.70 (drop 0.20)": Route(0.002, 0.70),
    "3x slower model time": Route(0.002, 0.90, slow=3.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--step-requests", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--only", default="", help="scenarios whose name contains this")
    args = parser.parse_args()
    params = {"step_requests": args.step_requests, "alpha": args.alpha}
    print(f"canary defaults but {params}; {args.sims} rollouts per candidate")
    baseline = Route(0.002, 0.90)
    print(f"{'candidate':38} {'rolled back':>12} {'median requests':>16}")
    for seed, (name, candidate) in enumerate(SCENARIOS.items()):
        if args.only not in name:
            continue
        rng = np.random.default_rng(seed)
        results = [rollout(baseline, candidate, rng, params) for _ in range(args.sims)]
        back = [n for rolled, n in results if rolled]
        median = statistics.median(back) if back else float("nan")
        print(f"{name:38} {len(back) / args.sims:12.3f} {median:16.0f}")


if __name__ == "__main__":
    main()

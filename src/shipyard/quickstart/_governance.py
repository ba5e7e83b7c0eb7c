"""The quick start's governance stage: the champion explained (SHAP and permutation
importance on its stored sample), its fairness across the applicants' gender (Fairlearn's
group metrics with confidence intervals), its card's user-written sections, a promotion
policy for the model, the challenger checked against it, and the audit log verified."""

from __future__ import annotations

from typing import Any

from shipyard import governance, models
from shipyard.quickstart._stages import MODEL, SENSITIVE, TARGET, Loop

__all__ = ["POLICY", "govern"]

POLICY: dict[str, Any] = {
    "protect": ["champion", "production"],
    "gates": {
        "min_metric": {"auc": 0.7},
        "max_disparity": {"demographic_parity_difference": 0.1},
        "explanation": True,
        "card_complete": True,
    },
}
"""What a version must show to become the champion or go to production."""


def govern(loop: Loop, _item: None) -> None:
    champion = models.get(f"{MODEL}@champion").ref
    explained = governance.explain_global(champion)
    fair = governance.fairness(
        champion, loop.reference.ref, target=TARGET, sensitive=[SENSITIVE], boot=20
    )
    governance.set_card(
        champion,
        intended_use="Rank loan applications by default risk for a person to review.",
        limitations="Trained on synthetic applications; not for automated decisions.",
    )
    policy = models.set_policy(MODEL, POLICY)
    gates = models.check(f"{MODEL}@challenger", to="champion")
    audit = governance.verify_audit()
    loop.governed = {
        "model": champion,
        "explained_by": explained.method,
        "top_features": [name for name, _ in explained.top(3)],
        "sensitive": SENSITIVE,
        "disparities": dict(fair.disparities),
        "card_complete": governance.card(champion, check=False).complete,
        "policy_version": policy.version,
        "challenger": gates.ref,
        "gates_failed": [r.name for r in gates.results if not r.passed],
        "gates_passed": gates.passed,
        "audit_entries": audit.entries,
        "audit_ok": audit.ok,
    }

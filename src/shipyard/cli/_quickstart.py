"""``shipyard quickstart``: the whole loop on bundled data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shipyard.cli._common import console, float_option, handle_errors, int_option, number

if TYPE_CHECKING:
    from shipyard.quickstart import Options, QuickstartResult


@handle_errors
def quickstart_cmd(
    rows: int = int_option(
        8_000, "--rows", low=1_000, high=1_000_000, help="Loan applications to generate."
    ),
    seed: int = int_option(
        0, "--seed", low=0, high=2**31 - 1, help="Random seed (same seed, same data and models)."
    ),
    automl_budget: float = float_option(
        10.0, "--automl-budget", low=0, above=True, help="Seconds for the AutoML search."
    ),
) -> None:
    """Run the whole loop on bundled loan data and print where to look."""
    from shipyard import quickstart
    from shipyard.cli._db import local_only

    settings = local_only("shipyard quickstart")  # it creates monitors and pipelines here
    options = quickstart.Options(rows=rows, seed=seed, automl_budget=automl_budget)
    console.print(f"Shipyard quick start: store {settings.db_url}")
    result = _run_with_progress(options)
    _print_summary(result)
    _print_where_to_look(result, settings.home)


def _run_with_progress(options: Options) -> QuickstartResult:
    """``quickstart.run`` under a progress bar: one tick per stage line."""
    from shipyard import quickstart

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("starting", total=quickstart.stage_count())
        first = [True]

        def advance(name: str) -> None:
            if not first[0]:
                bar.advance(task)
            first[0] = False
            bar.update(task, description=name)

        result = quickstart.run(
            rows=options.rows,
            seed=options.seed,
            progress=advance,
            automl_budget=options.automl_budget,
        )
        bar.advance(task)
        bar.update(task, description="done")
    return result


def _flags(result: QuickstartResult) -> str:
    """Why the drifted month's checks failed, when they did: it was drifted on purpose."""
    if not result.drifted_flags:
        return ""
    return (
        f" {result.drifted} leaves the ranges learnt from {result.dataset} on purpose (it was "
        f"drifted), so its schema checks warn: {', '.join(result.drifted_flags)}; it is stored "
        f"with that report (shipyard data validate {result.drifted} "
        f"--against {result.dataset.partition('@')[0]})."
    )


def _print_summary(result: QuickstartResult) -> None:
    """What each stage made, one paragraph per stage."""
    m, params = result.metrics, result.best_params
    console.print(
        f"\n[bold green]Done.[/] Best model: {params['model']} "
        f"(learning_rate={params['learning_rate']}, AUC {number(m['auc'], 4)})"
        f"  accuracy {number(m['accuracy'], 4)}  log-loss {number(m['log_loss'], 4)}\n"
    )
    console.print(
        f"Data: {result.dataset} and a drifted month {result.drifted}; statistics that moved: "
        f"{', '.join(result.moved[:6]) or 'none'}{' ...' if len(result.moved) > 6 else ''}."
        + _flags(result)
        + "\n"
    )
    report = result.export
    console.print(
        f"Registry: {result.model} is the champion and in production; its ONNX form matches "
        f"(max probability difference {number(report.get('max_diff'), 2)}, labels agree "
        f"on {number(100 * report.get('label_agreement', 0), 4)}% of {report.get('rows')} rows); "
        f"it predicts {result.drifted_default_rate:.1%} defaults on the drifted month.\n"
    )
    console.print(
        f"AutoML: {result.automl_trials} trials; its best, {result.challenger} (alias "
        f"challenger), scored AUC {number(result.automl_metrics.get('auc'), 4)} in "
        f"cross-validation{_ensemble_said(result.automl_ensemble)}.\n"
    )
    console.print(
        f"Serving: deployment {result.deployment} (champion answers, challenger in shadow) "
        f"answered {result.served} requests over HTTP, median {result.served_p50_ms:.1f} ms "
        f"round trip; the shadow agreed on {result.shadow_agreement:.1%}; the inference log "
        f"holds {result.logged_rows} rows and {result.feedback_rows} outcomes as feedback.\n"
    )
    split = ", ".join(f"{route} {share:g}%" for route, share in result.canary_split.items())
    verdict = {"promoted": "promoted", "rolled_back": "rolled back"}.get(
        result.canary_status, "still being judged"
    )
    console.print(
        f"Canary: the challenger took a growing share of live traffic with labels posted; "
        f"after {result.canary_requests} requests it was {verdict} (now {split})"
        f"{'; the reason: ' + result.canary_why if result.canary_why else ''}.\n"
    )
    console.print(
        f"Monitoring: monitor {result.monitor} checked the served traffic: {result.monitor_status}"
    )
    for detector, title in result.monitor_findings.items():
        console.print(f"  {detector}: {title}")
    console.print(f"Open alerts ({len(result.alerts)}):")
    for alert in result.alerts:
        console.print(f"  {alert}")
    console.print(f"Report: {result.monitor_report}")
    api = result.api
    console.print(
        f"The same through the REST API: {api['endpoint']} answered {api['checks']} check(s), "
        f"{api['series']} stored results and {api['alerts']} alert(s); the web UI answered "
        f"{len(api['pages'])} pages ({', '.join(api['pages'])}).\n"
    )
    _print_loop(result)
    _print_governance(result)


def _print_governance(result: QuickstartResult) -> None:
    """The champion explained, its fairness, the challenger gated, the audit log verified."""
    found = result.governance
    gaps = ", ".join(
        f"{k.replace('_', ' ')} {number(v, 3)}" for k, v in found["disparities"].items()
    )
    failed = ", ".join(found["gates_failed"]) or "none"
    console.print(
        f"Governance: {found['model']} explained ({found['explained_by']} SHAP; top features "
        f"{', '.join(found['top_features'])}); by {found['sensitive']}: {gaps}; its card is "
        f"{'complete' if found['card_complete'] else 'incomplete'}. Policy v"
        f"{found['policy_version']} guards champion and production: {found['challenger']} "
        f"{'passes' if found['gates_passed'] else 'fails'} its gates (failed: {failed}). The "
        f"audit log holds {found['audit_entries']} changes, its hash chain "
        f"{'intact' if found['audit_ok'] else 'BROKEN'}.\n"
    )


def _print_loop(result: QuickstartResult) -> None:
    """The closed loop: alert, retraining run, candidate, canary."""
    if not result.retrain_run:
        console.print(f"Loop: the retraining pipeline was {result.retrain_status}.\n")
        return
    console.print(
        f"Loop: alert {result.retrain_alert} started pipeline run {result.retrain_run[:12]} "
        f"of retrain-loans: {result.retrain_status}."
    )
    console.print("  " + " → ".join(result.retrain_steps))
    if result.retrain_status != "succeeded":
        console.print(f"  {result.retrain_error}\n")
        return
    verdict = {"promoted": "promoted", "rolled_back": "rolled back"}.get(
        result.retrain_canary, "still being judged"
    )
    console.print(
        f"  The candidate {result.retrain_candidate} went on canary; after "
        f"{result.retrain_canary_requests} requests of the following weeks it was {verdict}"
        f"{'; the reason: ' + result.retrain_canary_why if result.retrain_canary_why else ''}.\n"
    )


def _print_where_to_look(result: QuickstartResult, home: Path) -> None:
    """The commands (and one SDK call) that show what the quick start made."""
    console.print("Where to look:")
    console.print(f"  shipyard data show {result.dataset}")
    console.print(f"  shipyard data diff {result.dataset} {result.drifted}")
    console.print(f"  shipyard data profile {result.dataset} --html loans-profile.html")
    console.print(f"  shipyard data lineage {result.dataset}")
    console.print(
        f'  shipyard data query "SELECT region, avg(income) FROM {result.dataset} GROUP BY 1"'
    )
    console.print(f"  shipyard runs list -e {result.experiment} -o 'metrics.auc desc'")
    console.print(f"  shipyard runs show {result.best_run_id[:12]}")
    console.print(f"  shipyard runs compare {' '.join(r[:8] for r in result.child_run_ids)}")
    name = result.model.partition("@")[0]
    console.print(f"  shipyard models versions {name}")
    console.print(f"  shipyard models show {name}@champion")
    console.print(f"  shipyard models compare {name}@champion {name}@challenger")
    console.print("  shipyard runs list -e quickstart-automl -o 'metrics.auc desc'")
    console.print(f"  shipyard deployments show {result.deployment}")
    console.print(f"  shipyard serve --deployment {result.deployment} --port 8080")
    console.print(f"  shipyard monitors show {result.monitor}")
    console.print(f"  shipyard monitors check {result.monitor}")
    console.print("  shipyard alerts list --status open")
    console.print(f"  shipyard monitors report {result.monitor} --html monitor.html")
    console.print("  shipyard monitors watch    (runs monitors on their --every schedules)")
    if result.retrain_run:
        console.print(
            "  shipyard pipelines runs retrain-loans | show retrain-loans --html dag.html"
        )
        console.print(f"  shipyard pipelines logs {result.retrain_run[:12]} train")
    console.print("  shipyard scheduler    (schedules, triggers and alerts start pipelines)")
    model = result.governance.get("model", f"{name}@champion")
    console.print(f"  shipyard models card {model} --html --output card.html")
    console.print(f"  shipyard models check {name}@challenger --to champion")
    console.print(f"  shipyard audit list --model {name}")
    console.print("  shipyard audit verify    (the hash chain of every change)")
    console.print(
        "  shipyard server    (the web UI at http://127.0.0.1:8700/, the REST API at /api, /docs)"
    )
    console.print(
        f"  Python: sy.search_runs('{result.experiment}', "
        "filter='metrics.auc > 0.7', order_by=['metrics.auc desc'])"
    )
    console.print(f"  Everything is stored under {home.resolve()}")


def _ensemble_said(ensemble: dict[str, Any]) -> str:
    """The AutoML line's end: whether the search's ensemble was kept, and why."""
    if not ensemble:
        return ""
    scores = (
        f"AUC {number(ensemble['cross_validated'], 4)} against "
        f"{number(ensemble['single_cross_validated'], 4)} for the best single model, both "
        "cross-validated"
    )
    if ensemble["kept"]:
        return f"; it is an ensemble ({ensemble['members']}: {scores})"
    return f"; its ensemble was not kept ({scores})"

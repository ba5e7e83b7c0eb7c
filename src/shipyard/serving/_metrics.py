"""Prometheus metrics of one server: requests, latency, errors, batch sizes, model loads,
shadow copies (compared, dropped, queued), and the rollout policy's statistics per route.

Each app has its own registry (several apps may live in one process, as in tests).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "shipyard_requests",
            "Prediction requests answered, by endpoint, route, model version and status code.",
            ["endpoint", "route", "model", "version", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shipyard_request_seconds",
            "Time to answer a prediction request, body parsing to response.",
            ["endpoint", "route", "model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch = Histogram(
            "shipyard_batch_rows",
            "Rows per model call (micro-batches gather concurrent requests).",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.load = Histogram(
            "shipyard_model_load_seconds",
            "Time to load and warm a model version.",
            ["model"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.load_failures = Counter(
            "shipyard_model_load_failures",
            "Failed attempts to load or warm a version (it took no traffic; it is tried "
            "again after a back-off).",
            ["model"],
            registry=self.registry,
        )
        self.load_retry = Gauge(
            "shipyard_model_load_retry_seconds",
            "A version named for serving that failed to load or warm: the back-off before its "
            "next attempt (doubling per failure, capped at 300 s). Absent once it loads or is "
            "no longer named.",
            ["model", "version"],
            registry=self.registry,
        )
        self.load_failing = Gauge(
            "shipyard_model_load_failing",
            "Consecutive failed attempts to load the version (see "
            "shipyard_model_load_retry_seconds).",
            ["model", "version"],
            registry=self.registry,
        )
        self._rollout_metrics()

    def _rollout_metrics(self) -> None:
        """Shadow copies and the rollout policy's statistics per route."""
        self.shadow = Counter(
            "shipyard_shadow_rows",
            "Rows a shadow route answered: agreeing with the answer returned, differing, or "
            "failing.",
            ["deployment", "route", "outcome"],
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "shipyard_shadow_dropped",
            "Rows of request copies not sent to a shadow route: its queue was full.",
            ["deployment", "route"],
            registry=self.registry,
        )
        self.shadow_queued = Gauge(
            "shipyard_shadow_queued",
            "Request copies waiting for the shadow routes (bounded; full means dropping).",
            ["deployment"],
            registry=self.registry,
        )

        self.route_metric = Gauge(
            "shipyard_route_metric",
            "The policy's metric per route in the current evidence period, pooled by every "
            "worker and replica (accuracy, error_rate, reward or latency): estimate and "
            "confidence-sequence bounds.",
            ["deployment", "route", "metric", "bound"],
            registry=self.registry,
        )
        self.route_p_value = Gauge(
            "shipyard_route_p_value",
            "Always-valid p-value of a route against the baseline on the policy's metric "
            "(safe to watch continuously); significant when below the policy's level.",
            ["deployment", "route", "metric"],
            registry=self.registry,
        )
        self.route_significant = Gauge(
            "shipyard_route_significant",
            "1 when a route's metric differs significantly from the baseline's, else 0.",
            ["deployment", "route", "metric"],
            registry=self.registry,
        )

    def statistics(self, deployment: str, found: dict[str, Any]) -> None:
        """Set the route gauges from a policy's statistics (``RolloutPolicy.statistics``),
        forgetting routes and metrics no longer reported."""
        for gauge in (self.route_metric, self.route_p_value, self.route_significant):
            gauge.clear()
        metric = str(found.get("metric", ""))
        for row in found.get("routes", []):
            route = str(row["route"])
            low, high = (row.get("interval") or [None, None])[:2]
            for bound, value in (("estimate", row.get("estimate")), ("low", low), ("high", high)):
                if value is not None:
                    self.route_metric.labels(deployment, route, metric, bound).set(value)
            if row["route"] == found.get("baseline"):
                continue
            if row.get("p_value") is not None:
                self.route_p_value.labels(deployment, route, metric).set(row["p_value"])
            significant = 1.0 if row.get("significant") else 0.0
            self.route_significant.labels(deployment, route, metric).set(significant)

    def load_failures_now(self, failures: list[Any]) -> None:
        """Set the back-off gauges from the slots' current ``LoadFailure``s (only those)."""
        self.load_retry.clear()
        self.load_failing.clear()
        for failure in failures:
            name, _, version = str(failure.ref).rpartition("@")
            self.load_retry.labels(name, version).set(failure.delay)
            self.load_failing.labels(name, version).set(failure.failures)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics of one server: requests, latency, errors, batch sizes, model loads,
shadow copies (compared, dropped, queued).

Each app has its own registry (several apps may live in one process, as in tests).
"""

from __future__ import annotations

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
            "Versions that failed to load or warm (they took no traffic).",
            ["model"],
            registry=self.registry,
        )

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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

"""Serving: an inference server for registered models.

``shipyard serve churn@champion --port 8080`` (or :func:`serve`) answers the Open Inference
Protocol v2 (``/v2/models/churn/infer``, as KServe and Triton clients send) and plain JSON
(``POST /predict`` with records or columns). Every request is checked against the model's
signature (422 naming the column), concurrent requests share model calls (micro-batching),
the ONNX artifact runs when the version has one, and moving the alias swaps the model
without a failed request. ``/metrics`` is Prometheus.
"""

from __future__ import annotations

from shipyard.serving._app import create_app
from shipyard.serving._run import serve

__all__ = ["create_app", "serve"]

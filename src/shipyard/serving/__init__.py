"""Serving: an inference server for registered models.

``shipyard serve churn@champion --port 8080`` (or :func:`serve`) answers the Open Inference
Protocol v2 (``/v2/models/churn/infer``, as KServe and Triton clients send) and plain JSON
(``POST /predict`` with records or columns). Every request is checked against the model's
signature (422 naming the column), concurrent requests share model calls (micro-batching),
the ONNX artifact runs when the version has one, and moving the alias swaps the model
without a failed request. ``/metrics`` is Prometheus.

``deployments.create("fraud", {"a": "fraud@3", "b": "fraud@4"}, policy="canary")`` stores a
named deployment (routes and a traffic policy: fixed split, canary, blue-green, shadow,
bandit; ``POLICIES``, one entry per module of ``serving.policies``) that
``shipyard serve --deployment fraud`` follows live. Every server writes an inference log
(``read_requests``, ``read_feedback``) that monitors watch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.serving import deployments
    from shipyard.serving._app import create_app
    from shipyard.serving._auth import SCOPES, ApiKey, Keyring, create_key, list_keys, revoke_key
    from shipyard.serving._deployments import Deployment, DeploymentEvent, Route
    from shipyard.serving._log import InferenceLog, read_feedback, read_requests
    from shipyard.serving._run import background, serve
    from shipyard.serving._service import InferenceService
    from shipyard.serving.policies import POLICIES


__all__ = [
    "POLICIES",
    "SCOPES",
    "ApiKey",
    "Deployment",
    "DeploymentEvent",
    "InferenceLog",
    "InferenceService",
    "Keyring",
    "Route",
    "background",
    "create_app",
    "create_key",
    "deployments",
    "list_keys",
    "read_feedback",
    "read_requests",
    "revoke_key",
    "serve",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

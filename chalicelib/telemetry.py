"""Structured logs (redacted), EMF metrics and X-Ray tracing: one instance each per container.

Handlers never flush by hand: every Lambda entry point is wrapped by ``handlers.lambda_entry``, which uses
powertools' own decorators (``inject_lambda_context``, ``log_metrics``, ``capture_lambda_handler``).
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.security.logging import get_logger

NAMESPACE = "haoping"
SERVICE = "haoping"

logger = get_logger(SERVICE)
# Metrics and Tracer keep their state at class level (one per process), so these are cheap handles; the
# tracer stays off outside Lambda and wherever POWERTOOLS_TRACE_DISABLED is set.
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE, patch_modules=["botocore"])


def count(name: str, value: int = 1) -> None:
    """Add to a count metric (emitted when the invocation ends)."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

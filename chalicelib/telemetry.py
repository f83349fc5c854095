"""Structured logs (redacted) and EMF metrics, one instance each per container."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.security.logging import get_logger

NAMESPACE = "haoping"

logger = get_logger("haoping")


@cache
def metrics() -> Metrics:
    """The container's metrics buffer (flushed by each handler when it finishes)."""
    return Metrics(namespace=NAMESPACE, service="haoping")


def count(name: str, value: int = 1) -> None:
    """Add to a count metric."""
    if value:
        metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush() -> None:
    """Emit buffered metrics as one EMF document (no-op when nothing was counted)."""
    m = metrics()
    if m.metric_set:
        m.flush_metrics()

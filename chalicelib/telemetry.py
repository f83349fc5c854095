"""Structured logs (redacted), EMF metrics and X-Ray tracing: one instance each per container.

Handlers never flush by hand: every Lambda entry point is wrapped by ``handlers.lambda_entry``, which uses
powertools' own decorators (``inject_lambda_context``, ``log_metrics``, ``capture_lambda_handler``).
"""

from __future__ import annotations

import threading
import traceback

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


# powertools keeps one metric set per process and flushes it when it is full; a queue worker's records add
# to it from several threads at once.
_metrics_lock = threading.Lock()


def count(name: str, value: int = 1) -> None:
    """Add to a count metric (emitted when the invocation ends); safe from any thread."""
    if value:
        with _metrics_lock:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def failure(exc: BaseException) -> dict[str, str]:
    """Log fields naming an unexpected exception by its type and innermost frame, never by its message.

    Messages of library exceptions may quote the input that caused them (a buyer's nick, a token), and the
    type and place are what an operator needs to find the fault.
    """
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}" if frame else "unknown"
    return {"error": type(exc).__name__, "where": where}

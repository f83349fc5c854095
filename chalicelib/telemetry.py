"""Structured logs (redacted), EMF metrics and X-Ray tracing: one instance each per container.

Handlers never flush by hand: every Lambda entry point is wrapped by ``handlers.lambda_entry``, which uses
powertools' own decorators (``inject_lambda_context``, ``log_metrics``, ``capture_lambda_handler``).
"""

from __future__ import annotations

import os
import threading
import traceback

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from chalicelib.security.logging import get_logger

NAMESPACE = "haoping"
SERVICE = "haoping"

logger = get_logger(SERVICE)
# Metrics keep their state at class level (one per process), so this is a cheap handle.
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# powertools' Tracer imports the X-Ray SDK and patches botocore even when tracing is off (about as long as
# ``import boto3`` again), so it is built on the first invocation X-Ray records, and never in one that is not.
_tracer = None
_tracer_lock = threading.Lock()


def tracing_active() -> bool:
    """Whether X-Ray records the current invocation: in Lambda (not a local emulator), not switched off by
    ``POWERTOOLS_TRACE_DISABLED``, and sampled (``Sampled=1`` in the invocation's trace header, which Lambda
    sets only when the function's active tracing, or a traced caller, samples the request)."""
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    if not os.getenv(constants.LAMBDA_TASK_ROOT_ENV):
        return False
    if os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV):
        return False
    return "Sampled=1" in os.getenv(constants.XRAY_TRACE_ID_ENV, "")


def tracer():
    """powertools' Tracer (patching botocore) once an invocation has been traced in this container, else None."""
    global _tracer
    if _tracer is None and tracing_active():
        with _tracer_lock:
            if _tracer is None:
                from aws_lambda_powertools import Tracer

                _tracer = Tracer(service=SERVICE, patch_modules=["botocore"])
    return _tracer


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

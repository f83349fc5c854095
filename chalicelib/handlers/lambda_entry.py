"""Every Lambda entry point passes through here: powertools' logger context with a correlation id, metrics
flushed once per invocation, X-Ray tracing of the invocations X-Ray samples, and the invocation's deadline registered
for idempotency.

Chalice hands the Lambda context to HTTP routes on ``app.current_request.lambda_context`` and to schedule and
queue functions on ``event.context``; ``app.py`` passes it on, and the raw event, to these wrappers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from chalicelib.container import container
from chalicelib.telemetry import logger, metrics, tracer

# An invocation with nothing to count (an idle sweep tick) is normal here, not a mistake worth a warning per tick.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

API_GATEWAY_REST = correlation_paths.API_GATEWAY_REST  # requestContext.requestId
SCHEDULED = correlation_paths.EVENT_BRIDGE  # the scheduled event's id
SQS_FIRST_MESSAGE = "Records[0].messageId"  # each record then carries its own (see ``sqs_batch``)


class DeadlineNear(RuntimeError):
    """Too little of the invocation's time is left to start another unit of work safely."""


def remaining_ms(context) -> int | None:
    """Milliseconds left before the invocation's deadline (None without a Lambda context)."""
    get = getattr(context, "get_remaining_time_in_millis", None)
    return int(get()) if callable(get) else None


class Deadline:
    """Whether there is still time to start a unit of work that may take up to ``reserve_ms``.

    The reserve is capped at half of what was left when the invocation began, so a short-lived context (a
    test client's three seconds) still gets work done while a 60 s function keeps its full reserve.
    """

    def __init__(self, context, reserve_ms: int) -> None:
        self._context = context
        start = remaining_ms(context)
        self.reserve_ms = None if start is None else min(reserve_ms, start // 2)

    def near(self) -> bool:
        """True when less than the reserve is left."""
        left = remaining_ms(self._context)
        return left is not None and self.reserve_ms is not None and left < self.reserve_ms


def lambda_entry(correlation_id_path: str) -> Callable:
    """Decorate ``handler(event: dict, context, **kwargs)`` as a Lambda entry point."""

    def decorate(handler: Callable) -> Callable:
        @metrics.log_metrics
        @wraps(handler)
        def measured(event: dict, context, **kwargs: Any):
            container().begin_invocation(context)
            return handler(event, context, **kwargs)

        @logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)
        @wraps(handler)
        def run(event: dict, context, **kwargs: Any):
            traced = tracer()
            if traced is None:  # X-Ray does not record this invocation: no SDK, no segment
                return measured(event, context, **kwargs)
            return traced.capture_lambda_handler(measured, capture_response=False)(event, context, **kwargs)

        return run

    return decorate


@lambda_entry(API_GATEWAY_REST)
def _http(event: dict, context, *, respond: Callable[[], Any]) -> Any:
    return respond()


def http_invocation(request, get_response: Callable) -> Any:
    """Chalice HTTP middleware body: run the route inside the entry-point wrappers."""
    return _http(request.to_original_event(), request.lambda_context, respond=lambda: get_response(request))

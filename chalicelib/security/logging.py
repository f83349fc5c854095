"""Structured loggers whose every record passes through ``redact`` before it is written."""

from __future__ import annotations

import json
import logging
from typing import IO, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from chalicelib.security.redaction import redact

# Keys Powertools fills from the runtime and the Lambda context; request and trace ids look like
# tokens to the heuristic but are what operators search for, and callers do not set them.
_RUNTIME_KEYS = frozenset(
    {
        "level",
        "location",
        "timestamp",
        "service",
        "sampling_rate",
        "xray_trace_id",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
        "exception_name",
    }
)

# Keys every line would repeat that the Lambda log stream already states (its function's ARN and memory in the
# stream and its REPORT line, a cold start as "Init Duration", one service per log group): ~150 bytes a line,
# a third of a short one, billed by the byte.
_STATED_BY_THE_STREAM = ("function_arn", "function_memory_size", "cold_start", "service")

_LOGGERS: dict[str, Logger] = {}


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools JSON formatter that redacts the whole record (message, keys, exception) last."""

    def serialize(self, log: dict[str, Any]) -> str:
        # Round-trip through JSON first so exception objects and other values are the strings that
        # would be written, then redact those strings.
        plain = json.loads(json.dumps(log, default=self.json_default))
        for key in _STATED_BY_THE_STREAM:
            plain.pop(key, None)
        safe = redact(plain)
        safe.update({key: plain[key] for key in _RUNTIME_KEYS.intersection(plain)})
        return self.json_serializer(safe)


def get_logger(service: str = "haoping", *, stream: IO[str] | None = None) -> Logger:
    """Return the process-wide redacting Logger for ``service``, creating it on first use.

    ``stream`` (for tests) is used only when the logger is created. Raises ``RuntimeError`` if a
    logger for ``service`` was already configured elsewhere without redaction.
    """
    cached = _LOGGERS.get(service)
    if cached is not None:
        return cached
    handler = logging.StreamHandler(stream) if stream is not None else None
    logger = Logger(service=service, logger_formatter=RedactingFormatter(), logger_handler=handler)
    if not isinstance(logger.registered_formatter, RedactingFormatter):
        raise RuntimeError(f"logger {service!r} was configured without redaction")
    _LOGGERS[service] = logger
    return logger

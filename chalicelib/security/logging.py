"""Structured loggers whose every record passes through ``redact`` before it is written.

Why the loggers are not kept in the per-container runtime (``chalicelib/runtime.py``) like every other piece of
per-process state: a powertools ``Logger`` keeps nothing of its own worth forgetting. Its handler, formatter (and
so the appended keys), level and sampling live on the standard library's logger of the same name
(``logging.getLogger(service)``), which Python keeps for the whole process and ``reset()`` cannot forget; powertools
marks that logger configured (its ``init`` attribute) and a ``Logger`` built again for the service only reuses it,
without a second handler (aws-lambda-powertools 3.x, ``Logger._init_logger``; ``tests/unit/test_redaction.py``
shows a rebuild after ``reset()`` writes each line once). A logger reached through ``container()`` would also fail
exactly when it is needed most: when the container cannot be built (a deployment missing a setting) and the entry
point logs why, and ``lambda_entry`` wraps every handler in ``inject_lambda_context`` at import, before any
container exists. So nothing here keeps a logger: ``get_logger`` builds a cheap handle on the process's one
configured logger, and ``telemetry.logger`` is the handle the code imports.
"""

from __future__ import annotations

import json
import logging
from typing import IO, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.constants import LOGGER_ATTRIBUTE_PRECONFIGURED
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
    """A redacting Logger for ``service``: the service's logger is configured on first use (one handler, writing
    to ``stream``, for tests, or standard output) and every later call is a handle on that same configuration.

    Raises ``RuntimeError`` if a logger for ``service`` was already configured elsewhere without redaction.
    """
    configured = getattr(logging.getLogger(service), LOGGER_ATTRIBUTE_PRECONFIGURED, False)
    handler = logging.StreamHandler(stream) if stream is not None and not configured else None
    logger = Logger(service=service, logger_formatter=RedactingFormatter(), logger_handler=handler)
    if not isinstance(logger.registered_formatter, RedactingFormatter):
        raise RuntimeError(f"logger {service!r} was configured without redaction")
    return logger

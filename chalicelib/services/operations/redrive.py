"""Use case: once the cause is fixed, the operator moves dead-lettered jobs back to the queue they came from."""

from __future__ import annotations

from chalicelib.store import dead_letters
from chalicelib.telemetry import logger


def redrive(dlq_url: str, queue_url: str, *, max_messages: int) -> int:
    """Move up to ``max_messages`` from ``dlq_url`` to ``queue_url``; returns how many were moved.

    Safe to run at any time and to run again: each message is received, sent to ``queue_url``, and only
    then deleted from the dead-letter queue. A message the target refused stays dead-lettered (it shows
    again after a minute); a crash between send and delete sends a job twice, which the idempotent
    workers absorb. A job that is still poisonous simply comes back after its tries.
    """
    if max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    result = dead_letters.redrive(dlq_url, queue_url, max_messages=max_messages)
    if result.failed:
        logger.warning("redrive left messages dead-lettered", extra={"moved": result.moved, "failed": result.failed})
    else:
        logger.info("redrive done", extra={"moved": result.moved})
    return result.moved

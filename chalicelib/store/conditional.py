"""Conditional writes: a failed condition is an answer (a duplicate, a lost race), not an error."""

from __future__ import annotations

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model


def condition_failed(exc: Exception) -> bool:
    """True when DynamoDB refused the write because its condition did not hold."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def update_if(item: Model, *, actions: list, condition) -> bool:
    """Apply ``actions`` to ``item`` if ``condition`` holds (the item is refreshed from the answer)."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def save_if(item: Model, *, condition) -> bool:
    """Put ``item`` if ``condition`` holds (e.g. it does not exist yet)."""
    try:
        item.save(condition=condition)
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def transaction_condition_failed(exc: Exception) -> bool:
    """True when a transaction was cancelled because one of its conditions did not hold."""
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)

"""Once-only external effects (alerts, notifications, explanation replies) via powertools idempotency."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from chalicelib.config import get_settings
from chalicelib.store.clients import aws_client

IDEMPOTENCY_TABLE = "Idempotency"
# A once-key is remembered for 40 days: longer than the rating window plus the explanation window.
EXPIRES_AFTER_SECONDS = 40 * 24 * 3600


@cache
def _persistence():
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=get_settings().table(IDEMPOTENCY_TABLE), boto3_client=aws_client("dynamodb")
    )


def run_once(name: str, key: dict, effect: Callable[[], dict]) -> dict:
    """Run ``effect`` once per (``name``, ``key``); a repeat returns the first run's result without running it.

    If the first run crashed midway, its in-progress record expires and a later repeat runs it again, so
    the effect happens at least once and, barring that crash, at most once.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    def _effect(event: dict) -> dict:
        return effect()

    wrapped = idempotent_function(
        _effect,
        data_keyword_argument="event",
        persistence_store=_persistence(),
        config=IdempotencyConfig(expires_after_seconds=EXPIRES_AFTER_SECONDS),
        key_prefix=f"haoping.{name}",
    )
    return wrapped(event=key)


def reset() -> None:
    """Forget the persistence layer (tests and the local stack rebind endpoints)."""
    _persistence.cache_clear()

"""Once-only external effects (alerts and the notifications they send) via powertools idempotency.

Marketplace writes do not use it: a review or an explanation is a task, and its conditional state machine is
its once-marker.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.container import container


def in_progress(exc: BaseException) -> bool:
    """Whether ``exc`` says another invocation is running the same once-only effect right now."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    return isinstance(exc, IdempotencyAlreadyInProgressError)


def run_once(name: str, key: dict, effect: Callable[[], dict]) -> dict:
    """Run ``effect`` once per (``name``, ``key``); a repeat returns the first run's result without running it.

    If the first run crashed or timed out midway, its in-progress record expires with that invocation's
    deadline and a later repeat runs it again: the effect happens at least once and, barring that, at most once.
    """
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    def _effect(event: dict) -> dict:
        return effect()

    c = container()
    wrapped = idempotent_function(
        _effect,
        data_keyword_argument="event",
        persistence_store=c.idempotency_store,
        config=c.idempotency_config,
        key_prefix=f"haoping.{name}",
    )
    return wrapped(event=key)

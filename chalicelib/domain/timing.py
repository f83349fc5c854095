"""Review timing policy: when a task for a finished trade becomes due, and when it is too late.

All instants are aware datetimes; the marketplace counts the rating window from the trade's end time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.market_time import MARKET_TZ

if TYPE_CHECKING:
    from chalicelib.domain.rules import Rules
    from chalicelib.domain.settings import ReviewMode, SellerSettings

# 2**20 base periods is far beyond any backoff ceiling; the cap only keeps the arithmetic finite.
_MAX_BACKOFF_EXPONENT = 20


def window_closes_at(trade_end: datetime, rules: Rules) -> datetime:
    """The instant after which the marketplace refuses a rating for this trade."""
    return trade_end + timedelta(days=rules.rating_window_days)


def is_window_closed(now: datetime, trade_end: datetime, rules: Rules) -> bool:
    """True once ``now`` has reached the close of the rating window."""
    return now >= window_closes_at(trade_end, rules)


def fallback_at(trade_end: datetime, margin_hours: int, rules: Rules) -> datetime:
    """Latest planned posting time: ``margin_hours`` before the window closes, never before the trade end."""
    return max(trade_end, window_closes_at(trade_end, rules) - timedelta(hours=margin_hours))


def initial_due_at(
    mode: ReviewMode, trade_end: datetime, settings: SellerSettings, rules: Rules, *, spread: float = 0.0
) -> datetime:
    """When a newly scheduled task is due under ``mode``.

    ``mode`` is passed separately from ``settings`` because the caller may have to use a lesser mode than
    the seller chose when the plan no longer grants it.

    - ``immediate``: at the trade end;
    - ``delay``: ``delay_hours`` after it, but no later than the fallback time;
    - ``after_buyer``: at the fallback time; a buyer's rating releases it earlier.

    With the seller's ``random_delay``, ``immediate`` and ``delay`` move later by a point of that range chosen by
    ``spread`` (in [0, 1), drawn by the caller), still no later than the fallback time.
    """
    fallback = fallback_at(trade_end, settings.fallback_margin_hours, rules)
    if mode == "immediate":
        return min(trade_end + random_delay(settings, spread), fallback)
    if mode == "delay":
        return min(trade_end + timedelta(hours=settings.delay_hours) + random_delay(settings, spread), fallback)
    if mode == "after_buyer":
        return fallback
    raise ValueError(f"unknown review mode {mode!r}")


def random_delay(settings: SellerSettings, spread: float) -> timedelta:
    """The seller's random delay at point ``spread`` (in [0, 1)) of its range; none when the seller set none."""
    if not 0.0 <= spread < 1.0:
        raise ValueError("spread must be in [0, 1)")
    span = settings.random_delay
    if span is None:
        return timedelta(0)
    return timedelta(minutes=span.min_minutes + int((span.max_minutes - span.min_minutes + 1) * spread))


def planned_times(due: Sequence[datetime], *, now: datetime, hourly_cap: int) -> list[datetime]:
    """When reviews due at ``due`` (in order) would go out under the seller's hourly cap: each at its due time,
    or at the start of the first market hour that still has room (the write guard holds capped work until then).

    The answer is sorted by time; with a cap of 0 nothing goes out (an empty list).
    """
    if hourly_cap <= 0:
        return []
    used: dict[datetime, int] = {}
    planned = []
    for at in sorted(max(when, now) for when in due):
        hour = at.astimezone(MARKET_TZ).replace(minute=0, second=0, microsecond=0)
        while used.get(hour, 0) >= hourly_cap:
            hour += timedelta(hours=1)
            at = hour
        used[hour] = used.get(hour, 0) + 1
        planned.append(at)
    return planned


def due_after_buyer_rated(rated_at: datetime, trade_end: datetime, settings: SellerSettings, rules: Rules) -> datetime:
    """New due time of an ``after_buyer`` task released by the buyer's rating at ``rated_at``.

    Due at once, but never before the trade end nor later than the fallback time it already had.
    """
    fallback = fallback_at(trade_end, settings.fallback_margin_hours, rules)
    return min(max(rated_at, trade_end), fallback)


def due_after_refund_closed(
    now: datetime, trade_end: datetime, settings: SellerSettings, rules: Rules, *, spread: float = 0.0
) -> datetime | None:
    """Due time of a held task whose hold is lifted (a refund closed, the seller resumed); ``None`` if the window
    already closed.

    The timing is recomputed from the seller's mode with a fresh random delay at ``spread`` (in [0, 1), drawn by
    the caller). If that time has passed, the task is due that random delay after ``now``, so reviews released
    together do not all go out at once; never later than the fallback time (or ``now`` once that has passed).
    """
    if is_window_closed(now, trade_end, rules):
        return None
    planned = initial_due_at(settings.mode, trade_end, settings, rules, spread=spread)
    if planned > now:
        return planned
    latest = max(now, fallback_at(trade_end, settings.fallback_margin_hours, rules))
    return min(now + random_delay(settings, spread), latest)


def retry_due_at(now: datetime, attempts: int, rules: Rules, rng_value: float) -> datetime:
    """When to retry after ``attempts`` failed tries, with exponential backoff and equal jitter.

    The backoff doubles per attempt from ``backoff_base_seconds`` up to ``backoff_max_seconds``; half of
    it is fixed and half is scaled by ``rng_value`` (in [0, 1)), so retries of many tasks spread out but
    never come back at once.
    """
    if not 0.0 <= rng_value < 1.0:
        raise ValueError("rng_value must be in [0, 1)")
    exponent = min(max(attempts, 1) - 1, _MAX_BACKOFF_EXPONENT)
    policy = rules.retry
    backoff = min(policy.backoff_max_seconds, policy.backoff_base_seconds * 2**exponent)
    return now + timedelta(seconds=backoff / 2 + backoff / 2 * rng_value)


def retries_exhausted(attempts: int, rules: Rules) -> bool:
    """True when ``attempts`` tries used up the retry budget and the task must fail."""
    return attempts >= rules.retry.max_attempts

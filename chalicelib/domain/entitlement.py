"""Entitlement: what a seller has paid for, derived from the service market's billing orders.

Each order grants its cycle ``[cycle_start, cycle_end)`` unless refunded; the seller is entitled inside
the union of those cycles, on the plan (``item_code``) of the order covering the instant in question.
Orders are facts as the market reports them, so the result never depends on the order they arrive in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

BIZ_NEW, BIZ_RENEW, BIZ_UPGRADE, BIZ_GIFT, BIZ_AUTO_RENEW, BIZ_AFTER_REVIEW = 1, 2, 3, 4, 5, 6

# The market writes a cycle end either as the next cycle's start (00:00:00) or as the last second of
# the day (23:59:59); cycles at most this far apart are one uninterrupted subscription.
CONTIGUITY_TOLERANCE = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class BillingOrder:
    """One service-market order (``taobao.vas.order.search`` fields), as validated, stored and judged; fees in fen.

    The one order type behind the wire: billing messages and searched orders are validated into it
    (``marketplace.billing_topics.parse_order``), the Orders table stores it, and entitlement is computed from it.
    """

    order_id: str
    nick: str
    article_code: str
    item_code: str
    biz_type: int
    cycle_start: datetime
    cycle_end: datetime
    total_pay_fee: int
    refund_fee: int
    created: datetime
    biz_order_id: str | None = None
    closed: bool = False

    def __post_init__(self) -> None:
        for name in ("cycle_start", "cycle_end", "created"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
        if self.total_pay_fee < 0 or self.refund_fee < 0:
            raise ValueError("fees must not be negative")


class Period(NamedTuple):
    """A half-open paid interval ``[start, end)``."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Entitlement:
    """A seller's entitlement as seen at one instant.

    ``paid_until`` is the end of the uninterrupted paid span containing that instant; outside any span
    it is the end of the latest span already over (``None`` if none is), so it never reports a future,
    not-yet-started cycle as paid. ``periods`` are all paid spans, merged and sorted.
    """

    paid_until: datetime | None
    plan: str | None
    active: bool
    periods: tuple[Period, ...]

    @property
    def latest_end(self) -> datetime | None:
        """End of the last paid span, past or future: what data-retention grace is counted from."""
        return self.periods[-1].end if self.periods else None


def granted_period(order: BillingOrder) -> Period | None:
    """The part of the order's cycle it actually pays for; ``None`` if it grants nothing.

    Free orders (gifts, zero-fee items) grant their whole cycle. A full refund grants nothing; a partial
    refund keeps the paid share of the cycle, from its start. A closed order without any refund was closed
    before it was paid (an unpaid order times out that way), so it grants nothing.
    """
    if order.cycle_end <= order.cycle_start or (order.closed and order.refund_fee == 0):
        return None
    if order.refund_fee == 0:
        return Period(order.cycle_start, order.cycle_end)
    if order.refund_fee >= order.total_pay_fee:
        return None
    kept_fee = order.total_pay_fee - order.refund_fee
    # Integer microseconds keep the proportion exact, so a larger refund can never round to more time.
    duration = (order.cycle_end - order.cycle_start) // _MICROSECOND
    kept = duration * kept_fee // order.total_pay_fee
    if kept <= 0:
        return None
    return Period(order.cycle_start, order.cycle_start + kept * _MICROSECOND)


def _merge(periods: Iterable[Period]) -> tuple[Period, ...]:
    merged: list[Period] = []
    for period in sorted(periods):
        if merged and period.start <= merged[-1].end + CONTIGUITY_TOLERANCE:
            last = merged[-1]
            merged[-1] = Period(last.start, max(last.end, period.end))
        else:
            merged.append(period)
    return tuple(merged)


def _plan_key(order: BillingOrder) -> tuple[bool, datetime, str, str]:
    # An upgrade replaces the plan of the order it upgrades; otherwise the newest order wins.
    return (order.biz_type == BIZ_UPGRADE, order.created, order.order_id, order.item_code)


def _covering_plan(granted: list[tuple[BillingOrder, Period]], at: datetime) -> str | None:
    covering = [order for order, period in granted if period.start <= at < period.end]
    if not covering:
        # ``at`` falls in a tolerated gap between cycles: the cycle that just ended still names the plan.
        covering = [order for order, period in granted if period.start <= at < period.end + CONTIGUITY_TOLERANCE]
    return max(covering, key=_plan_key).item_code if covering else None


def entitlement(orders: Iterable[BillingOrder], now: datetime) -> Entitlement:
    """The seller's entitlement at ``now`` from all their billing orders."""
    granted = [(order, period) for order in orders if (period := granted_period(order)) is not None]
    periods = _merge(period for _, period in granted)
    for period in periods:
        if period.start <= now < period.end:
            return Entitlement(period.end, _covering_plan(granted, now), True, periods)
    past_ends = [period.end for period in periods if period.end <= now]
    return Entitlement(max(past_ends, default=None), None, False, periods)


def plan_at(orders: Iterable[BillingOrder], at: datetime) -> str | None:
    """The plan (``item_code``) the seller is on at ``at``; ``None`` when not entitled."""
    return entitlement(orders, at).plan


def is_entitled(orders: Iterable[BillingOrder], at: datetime) -> bool:
    """True when ``at`` lies inside a paid span."""
    return entitlement(orders, at).active


def reminders_due(
    ent: Entitlement, now: datetime, reminder_days: Iterable[int], already_sent: Collection[int]
) -> list[int]:
    """The expiry reminder (days before ``paid_until``) to send now: at most one, and only once.

    Only the most urgent threshold reached counts: if the daily job missed the 7-day reminder, the
    3-day one replaces it rather than both arriving together. ``already_sent`` holds the thresholds sent
    for this ``paid_until``; a renewal moves ``paid_until`` and the caller starts a fresh set.
    """
    if not ent.active or ent.paid_until is None:
        return []
    remaining = ent.paid_until - now
    reached = [days for days in reminder_days if remaining <= timedelta(days=days)]
    if not reached:
        return []
    tightest = min(reached)
    return [] if tightest in already_sent else [tightest]

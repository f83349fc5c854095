"""Extortion signals shared across shops (差评师预警): when a buyer counts as confirmed by enough shops.

A signal says that one shop confirmed that one buyer (a keyed hash) used a rating to demand something. A buyer is
flagged only while at least ``min_shops`` distinct shops confirmed within the last ``window_days``; each shop counts
once, at its latest confirmation, so one shop can never flag a buyer by itself however often it clicks. The flag
lasts until the ``min_shops``-th most recent shop's confirmation leaves the window: that moment is computed here
once and stored with the flag, so the order-time lookup is one read that compares a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.entitlement import BIZ_GIFT, BillingOrder, granted_period

SignalKind = Literal["rating_confirmed", "blacklisted"]
SIGNAL_KINDS: tuple[SignalKind, ...] = ("rating_confirmed", "blacklisted")


class ExtortionPolicy(BaseModel):
    """The rules of shared extortion signals (part of the rules document, key ``extortion``).

    ``min_shops`` is at least 2, so no single shop can ever flag a buyer. ``suspect_min_bad_faith`` is the triage's
    bad-faith probability from which a rating is offered to the seller as suspected extortion.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    min_shops: int = Field(default=3, ge=2, le=1000)
    window_days: int = Field(default=180, ge=1, le=365)
    confirmations_per_shop_per_day: int = Field(default=20, ge=1, le=10_000)
    suspect_min_bad_faith: float = Field(default=0.2, gt=0, le=1)

    @property
    def window(self) -> timedelta:
        """How long a confirmation counts."""
        return timedelta(days=self.window_days)


@dataclass(frozen=True)
class Signal:
    """One shop's confirmation about one buyer: ``shop`` is an opaque key used only to count distinct shops."""

    shop: str
    kind: SignalKind
    at: datetime


def counted_shops(signals: Iterable[Signal], now: datetime, policy: ExtortionPolicy) -> dict[str, datetime]:
    """Each shop whose confirmation counts at ``now`` (inside ``(now - window, now]``), at its latest one."""
    since = now - policy.window
    latest: dict[str, datetime] = {}
    for signal in signals:
        if since < signal.at <= now and (signal.shop not in latest or signal.at > latest[signal.shop]):
            latest[signal.shop] = signal.at
    return latest


def flagged_until(signals: Iterable[Signal], now: datetime, policy: ExtortionPolicy) -> datetime | None:
    """When the buyer stops being flagged, if flagged at ``now``; None when fewer than ``min_shops`` shops count.

    The answer never says how many shops counted: below the threshold it is None, whatever the number.
    """
    latest = sorted(counted_shops(signals, now, policy).values(), reverse=True)
    if len(latest) < policy.min_shops:
        return None
    return latest[policy.min_shops - 1] + policy.window


def is_flagged(until: datetime | None, now: datetime) -> bool:
    """Whether a stored flag (its ``until``) is in force at ``now``."""
    return until is not None and now < until


def suspected(triage: Mapping | None, policy: ExtortionPolicy) -> bool:
    """Whether a rating's stored triage suggests extortion (its top category, or a bad-faith probability at or
    above the policy's threshold): only such ratings are offered to the seller to confirm."""
    if not triage:
        return False
    return (
        triage.get("category") == "bad_faith" or float(triage.get("bad_faith") or 0.0) >= policy.suspect_min_bad_faith
    )


def paying(orders: Iterable[BillingOrder], now: datetime) -> bool:
    """Whether the shop pays at ``now``: an order covering ``now`` that is not a gift and kept some of its fee.

    A trial (a free or gifted cycle) or a lapsed shop does not count, so shops cannot be conjured to flag a buyer.
    """
    for order in orders:
        period = granted_period(order)
        if period is None or not period.start <= now < period.end:
            continue
        if order.biz_type != BIZ_GIFT and order.total_pay_fee - order.refund_fee > 0:
            return True
    return False


def may_confirm(confirmed_today: int, policy: ExtortionPolicy) -> bool:
    """Whether a shop that already confirmed ``confirmed_today`` buyers today may confirm one more."""
    return confirmed_today < policy.confirmations_per_shop_per_day

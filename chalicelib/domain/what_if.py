"""What-if: how the seller's past trades would have gone under some settings — posted when, skipped by which
filter, held, expired — replayed with the same rules the scheduler and the write path apply.

Pure: the caller reads the trades and what the shop knew about their buyers; nothing here reads or writes.
The random delay is drawn from the trade id, so the same settings always give the same answer.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from chalicelib.domain import order_filters, timing
from chalicelib.domain.market_time import MARKET_TZ, market_date
from chalicelib.domain.rules import Rules
from chalicelib.domain.settings import SellerSettings, effective_mode

_DAWN = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PastTrade:
    """One finished trade of the period and what was known about it (``refund_effect``: none, open, succeeded)."""

    tid: str
    trade_end: datetime
    facts: order_filters.TradeFacts = field(default_factory=order_filters.TradeFacts)
    buyer_refund_at: datetime | None = None
    buyer_dispute_at: datetime | None = None
    blacklisted: bool = False
    refund_effect: str = "none"
    buyer_rating: str | None = None
    buyer_rated_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one trade: ``posted`` (at ``at``), ``waiting`` (due at ``at``, after now), ``skipped``,
    ``held`` or ``expired``, and why."""

    tid: str
    result: str
    reason: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class WhatIf:
    """The period's outcomes, counted, with the posts by market day and by market hour of the day."""

    outcomes: tuple[Outcome, ...]
    posted: int
    waiting: int
    expired: int
    skipped: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    posted_by_day: dict[date, int] = field(default_factory=dict)
    posted_by_hour: tuple[int, ...] = (0,) * 24


def spread_of(tid: str) -> float:
    """The point of the random delay's range a what-if uses for trade ``tid`` (in [0, 1), stable)."""
    digest = hashlib.blake2b(tid.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _due(trade: PastTrade, settings: SellerSettings, mode, rules: Rules) -> datetime:
    due = timing.initial_due_at(mode, trade.trade_end, settings, rules, spread=spread_of(trade.tid))
    if mode == "after_buyer" and trade.buyer_rated_at is not None and trade.buyer_rated_at < due:
        due = timing.due_after_buyer_rated(trade.buyer_rated_at, trade.trade_end, settings, rules)
    return due


def _known_before(at: datetime | None, moment: datetime) -> bool:
    return at is not None and at <= moment


def _before_posting(trade: PastTrade, settings: SellerSettings, due: datetime) -> tuple[str, str | None] | None:
    """The trade's fate decided before the write, or None when it would be written at ``due``."""
    if trade.blacklisted:
        return "skipped", "blacklisted"
    if trade.refund_effect == "succeeded":
        return "skipped", "refunded"
    facts = replace(
        trade.facts,
        buyer_refunded=_known_before(trade.buyer_refund_at, due),
        buyer_disputed=_known_before(trade.buyer_dispute_at, due),
    )
    reason = order_filters.skip_reason(settings.filters, facts)
    if reason:
        return "skipped", reason
    rated_bad = trade.buyer_rating in ("neutral", "bad") and _known_before(trade.buyer_rated_at, due)
    if rated_bad and settings.on_buyer_neutral_or_bad == "skip":
        return "skipped", "buyer_bad_rating"
    if trade.refund_effect == "open":
        return "held", "refund"
    if settings.dry_run:
        return "skipped", "dry_run"
    return None


def simulate(
    trades: Iterable[PastTrade],
    settings: SellerSettings,
    rules: Rules,
    *,
    features: frozenset[str],
    hourly_cap: int,
    paused: bool,
    now: datetime,
) -> WhatIf:
    """Replay ``trades`` under ``settings``: each is decided as the scheduler and the write path would decide it,
    the writes go out no faster than ``hourly_cap`` per market hour, and a write planned after its rating window
    closes expires. ``paused`` holds every review that is not skipped first."""
    mode = effective_mode(settings, features)
    outcomes: list[Outcome] = []
    to_write: list[tuple[datetime, PastTrade]] = []
    for trade in trades:
        due = _due(trade, settings, mode, rules)
        decided = _before_posting(trade, settings, due)
        if decided is None and paused:
            decided = ("held", "paused")
        if decided is not None:
            outcomes.append(Outcome(trade.tid, decided[0], decided[1]))
        else:
            to_write.append((due, trade))
    to_write.sort(key=lambda pair: (pair[0], pair[1].tid))
    planned = timing.planned_times([due for due, _ in to_write], now=_DAWN, hourly_cap=hourly_cap)
    for index, (_, trade) in enumerate(to_write):
        at = planned[index] if index < len(planned) else None
        if at is None or at >= timing.window_closes_at(trade.trade_end, rules):
            outcomes.append(Outcome(trade.tid, "expired", "window_closed"))
        elif at > now:
            outcomes.append(Outcome(trade.tid, "waiting", None, at))
        else:
            outcomes.append(Outcome(trade.tid, "posted", None, at))
    return _count(outcomes)


def _count(outcomes: list[Outcome]) -> WhatIf:
    results = Counter(o.result for o in outcomes)
    by_day: Counter[date] = Counter()
    by_hour = [0] * 24
    for o in outcomes:
        if o.result == "posted" and o.at is not None:
            by_day[market_date(o.at)] += 1
            by_hour[o.at.astimezone(MARKET_TZ).hour] += 1
    return WhatIf(
        outcomes=tuple(outcomes),
        posted=results["posted"],
        waiting=results["waiting"],
        expired=results["expired"],
        skipped=dict(Counter(o.reason for o in outcomes if o.result == "skipped")),
        held=dict(Counter(o.reason for o in outcomes if o.result == "held")),
        posted_by_day=dict(sorted(by_day.items())),
        posted_by_hour=tuple(by_hour),
    )

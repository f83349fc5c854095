"""Use cases: before saving settings, how the last 30 days would have gone under them; and when the reviews
waiting now will go out.

Both read only the seller's own partition: the tasks of the period through the trade-end index, the buyers'
history in the shop, the blacklist; the decision itself is ``domain.what_if`` / ``domain.timing``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain import order_filters, timing
from chalicelib.domain import refunds as refund_rules
from chalicelib.domain import what_if as domain
from chalicelib.domain.market_time import market_date
from chalicelib.domain.settings import apply_update
from chalicelib.domain.task_state import State
from chalicelib.services.reviews.auto_review import in_window, is_paused
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_views import TaskFilter, list_tasks, seller_view
from chalicelib.store import blacklist, buyer_history, tasks
from chalicelib.store.models import Task

PERIOD_DAYS = 30
# A what-if reads at most this many trades (a month of a very large shop); the answer says when it was cut.
MAX_TRADES = 20_000


@dataclass(frozen=True)
class WhatIfReport:
    """The simulated period next to what really happened to the same trades."""

    first_day: Any
    last_day: Any
    trades: int
    truncated: bool
    simulated: domain.WhatIf
    actual: dict[str, int]


def _epoch(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def _period_tasks(seller_id: str, now: datetime) -> tuple[list[Task], Any, Any, bool]:
    last = market_date(now)
    first = last - timedelta(days=PERIOD_DAYS - 1)
    found: list[Task] = []
    cursor = None
    while len(found) < MAX_TRADES:
        page, cursor = list_tasks(seller_id, where=TaskFilter(first_day=first, last_day=last), cursor=cursor, limit=100)
        found += [t for t in page if not t.stub and not tasks.is_explanation(t.tid)]
        if not cursor:
            break
    return found[:MAX_TRADES], first, last, bool(cursor) or len(found) > MAX_TRADES


def _past_trade(
    task: Task, listed: frozenset[str], history: Mapping[str, buyer_history.BuyerHistory]
) -> domain.PastTrade:
    hashes = [h for h in (task.buyer_hash, task.buyer_uid_hash) if h]
    marks = [history[h] for h in hashes if h in history]
    refund = min((m.refund_at for m in marks if m.refund_at is not None), default=None)
    dispute = min((m.dispute_at for m in marks if m.dispute_at is not None), default=None)
    return domain.PastTrade(
        tid=task.tid,
        trade_end=tasks.trade_end_of(task),
        facts=order_filters.TradeFacts(
            amount_fen=int(task.payment) if task.payment is not None else None,
            item_ids=order_filters.item_ids_of(task.item_id),
            item_title=task.item_title,
        ),
        buyer_refund_at=_epoch(refund),
        buyer_dispute_at=_epoch(dispute),
        blacklisted=any(h in listed for h in hashes),
        refund_effect=refund_rules.effect(task.refunds or {}),
        buyer_rating=task.buyer_rating,
        buyer_rated_at=_epoch(task.buyer_rated_at),
    )


def what_if(seller_id: str, patch: Mapping[str, Any], *, now: datetime) -> WhatIfReport:
    """The last 30 market days replayed under the saved settings with ``patch`` over them (validated as a
    save would be: ``SettingsInvalid`` names every bad field). Nothing is saved."""
    view = seller_view(seller_id)
    rules = rules_in_force()
    settings = apply_update(view.settings, patch, features=view.features(), rules=rules)
    found, first, last, truncated = _period_tasks(seller_id, now)
    listed = blacklist.hashes(seller_id, kept=bool(view.seller.has_blacklist))
    hashes = [h for t in found for h in (t.buyer_hash, t.buyer_uid_hash) if h]
    history = buyer_history.read_many(seller_id, hashes) if settings.filters.needs_buyer_history else {}
    trades = [_past_trade(t, listed, history) for t in found]
    simulated = domain.simulate(
        trades,
        settings,
        rules,
        features=view.features(),
        hourly_cap=view.hourly_cap(),
        paused=is_paused(view.seller),
        now=now,
    )
    actual = Counter(t.state for t in found)
    return WhatIfReport(first, last, len(found), truncated, simulated, dict(actual))


@dataclass(frozen=True)
class Upcoming:
    """A review waiting to go out: due at ``due_at``, planned at ``planned_at`` under the hourly cap."""

    tid: str
    item_title: str | None
    buyer: str | None
    due_at: datetime
    planned_at: datetime


def upcoming(seller_id: str, *, now: datetime, limit: int = 20) -> tuple[int, list[Upcoming]]:
    """The seller's hourly cap, and the next ``limit`` scheduled reviews with when they would go out under it."""
    view = seller_view(seller_id)
    waiting = [t for t in in_window(seller_id, State.SCHEDULED, now=now) if t.due_at is not None]
    waiting.sort(key=lambda t: (int(t.due_at), t.tid))
    planned = timing.planned_times([_epoch(t.due_at) for t in waiting], now=now, hourly_cap=view.hourly_cap())
    rows = [
        Upcoming(t.tid, t.item_title, t.buyer_masked, _epoch(t.due_at), at)
        for t, at in zip(waiting, planned, strict=False)
    ]
    return view.hourly_cap(), rows[:limit]

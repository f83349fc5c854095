"""Use case: refund messages hold, release or skip the trade's review, whatever order they arrive in."""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import container
from chalicelib.domain import refunds as refund_rules
from chalicelib.domain import timing
from chalicelib.domain.market_time import market_date
from chalicelib.domain.task_state import TERMINAL, Event, State
from chalicelib.marketplace.topics import RefundEvent
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import view_of
from chalicelib.store import sellers, stats, tasks
from chalicelib.store.models import Task
from chalicelib.telemetry import count

ATTEMPTS = 5


class ConcurrentUpdate(RuntimeError):
    """The task kept changing under us; the message is retried later."""


def on_refund(seller_id: str, status: str, event: RefundEvent, *, now: datetime) -> str:
    """Merge the refund's status into the task and apply what the refunds now mean for the review."""
    refund_id = event.refund_id or f"{event.tid}:{event.oid or ''}"
    for _ in range(ATTEMPTS):
        task = tasks.get(seller_id, event.tid)
        if task is None:
            if tasks.put_stub(seller_id, event.tid, refunds=refund_rules.merge({}, refund_id, status), now=now):
                count("RefundBeforeTrade")
                return "ok"
            continue
        old = dict(task.refunds or {})
        new = refund_rules.merge(old, refund_id, status)
        if new == old:
            # The delivery that recorded this refund may have failed before applying its effect (a throttled
            # write): apply it again unless the task already shows it. Every effect is a conditional write.
            effect = refund_rules.effect(new)
            shown = effect == "open" and "refund" in (task.holds or set())
            if not task.stub and State(task.state) not in TERMINAL and not shown:
                apply_refund_effect(task, effect, now=now)
            return "duplicate"
        if tasks.set_refunds(seller_id, event.tid, new, rev=task.rev, now=now) is None:
            continue
        if not task.stub and State(task.state) not in TERMINAL:
            apply_refund_effect(task, refund_rules.effect(new), now=now)
        return "ok"
    raise ConcurrentUpdate(f"task {event.tid} kept changing")


def apply_refund_effect(task: Task, effect: str, *, now: datetime) -> None:
    """Skip on a paid refund, hold while one is open, release when none is open any more."""
    shards = container().settings.due_shards
    if effect == "succeeded":
        done = tasks.transition(
            task.seller_id, task.tid, Event.SKIP, now=now, shards=shards, reason="refunded", fields={"holds": None}
        )
        if done is not None:
            day = stats.day_bucket(market_date(now).isoformat())
            stats.bump(task.seller_id, day, {"skipped_refunded": 1}, now=now)
            count("ReviewSkippedRefunded")
    elif effect == "open":
        tasks.add_hold(task.seller_id, task.tid, "refund", now=now)
    elif "refund" in (task.holds or set()):
        seller = sellers.cached(task.seller_id)
        settings = view_of(seller).timing_settings()
        due = timing.due_after_refund_closed(now, tasks.trade_end_of(task), settings, rules_in_force())
        if due is None:
            tasks.expire_held(task.seller_id, task.tid, now=now)
        else:
            tasks.remove_hold(task.seller_id, task.tid, "refund", now=now, shards=shards, due_at=due)

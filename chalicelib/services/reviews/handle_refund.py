"""Use case: refund messages hold, release or skip the trade's review, whatever order they arrive in."""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import container
from chalicelib.domain import refunds as refund_rules
from chalicelib.domain import timing
from chalicelib.domain.task_state import TERMINAL, State
from chalicelib.marketplace.topics import RefundEvent
from chalicelib.security.buyer_id import buyer_keys
from chalicelib.services.reviews.review_rng import rng
from chalicelib.services.reviews.skip_task import skip_task
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import view_of
from chalicelib.store import buyer_history, sellers, tasks
from chalicelib.store.models import Task
from chalicelib.telemetry import count

ATTEMPTS = 5


class ConcurrentUpdate(RuntimeError):
    """The task kept changing under us; the message is retried later."""


def on_refund(seller_id: str, status: str, event: RefundEvent, *, now: datetime) -> str:
    """Merge the refund's status into the task and apply what the refunds now mean for the review."""
    refund_id = event.refund_id or f"{event.tid}:{event.oid or ''}"
    remember_buyer(seller_id, event, now=now)
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


def remember_buyer(seller_id: str, event: RefundEvent, *, now: datetime) -> None:
    """Note in the shop's buyer history that this buyer asked for a refund; an after-sale refund (售后, after the
    trade succeeded) is a dispute the buyer opened. The order filters read it; only the first of each is kept."""
    hashes = buyer_keys(container().buyer_hash_secret(), event.buyer_nick, event.buyer_open_uid)
    buyer_history.mark_refund(seller_id, hashes, dispute=event.refund_phase == "aftersale", now=now)


def apply_refund_effect(task: Task, effect: str, *, now: datetime) -> None:
    """Skip on a paid refund, hold while one is open, release when none is open any more."""
    shards = container().settings.due_shards
    if effect == "succeeded":
        if skip_task(task, "refunded", now=now):
            count("ReviewSkippedRefunded")
    elif effect == "open":
        tasks.add_hold(task.seller_id, task.tid, "refund", now=now)
    elif "refund" in (task.holds or set()):
        seller = sellers.cached(task.seller_id)
        settings = view_of(seller).timing_settings()
        due = timing.due_after_refund_closed(
            now, tasks.trade_end_of(task), settings, rules_in_force(), spread=rng().random()
        )
        if due is None:
            tasks.expire_held(task.seller_id, task.tid, now=now)
        else:
            tasks.remove_hold(task.seller_id, task.tid, "refund", now=now, shards=shards, due_at=due)

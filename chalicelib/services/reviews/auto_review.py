"""Use case: the seller pauses and resumes automatic reviews.

Pausing holds every open review of the seller (``paused``) and every review created meanwhile is held as it is
created; the worker holds any it still meets. Resuming lifts the hold: a review whose rating window is still
open is scheduled again, one whose window closed while paused expires with the reason ``paused_window_closed``.
Replies to buyers' ratings (explanations) are not reviews and go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.container import container
from chalicelib.domain import timing
from chalicelib.domain.market_time import market_date
from chalicelib.domain.task_state import State
from chalicelib.services.reviews.review_rng import rng
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import view_of
from chalicelib.services.sellers.seller_views import SellerMissing, TaskFilter, list_tasks
from chalicelib.store import audit, seller_marks, sellers, tasks
from chalicelib.store.models import Task
from chalicelib.telemetry import count

PAUSED = "paused"
# Reviews listed at most per state (a day of a very large shop's trades).
MAX_LISTED = 20_000
EXPIRED_WHILE_PAUSED = "paused_window_closed"


@dataclass(frozen=True)
class AutoReviewState:
    """Whether automatic reviews run, since when they are paused, and how many reviews wait for a resume."""

    paused: bool
    paused_at: datetime | None
    waiting: int


def is_paused(seller) -> bool:
    """True while the seller has paused automatic reviews."""
    return seller is not None and seller.review_paused_at is not None


def in_window(seller_id: str, state: State, *, now: datetime) -> list[Task]:
    """The seller's reviews in ``state`` whose trades ended within the rating window (only those can still be
    posted), read through the trade-end index: a big seller's older history is never read."""
    last = market_date(now)
    first = last - timedelta(days=rules_in_force().rating_window_days + 1)
    where = TaskFilter(states={state.value}, first_day=first, last_day=last)
    found: list[Task] = []
    cursor = None
    while len(found) < MAX_LISTED:
        page, cursor = list_tasks(seller_id, where=where, cursor=cursor, limit=100)
        found += [t for t in page if not tasks.is_explanation(t.tid)]
        if not cursor:
            break
    return found


def _waiting(seller_id: str, now: datetime) -> int:
    return sum(1 for task in in_window(seller_id, State.HELD, now=now) if PAUSED in (task.holds or ()))


def state_of(seller_id: str, *, now: datetime) -> AutoReviewState:
    """The seller's auto-review state, read consistently; ``waiting`` counts the held reviews still in their
    rating window."""
    seller = sellers.get(seller_id)
    if seller is None:
        raise SellerMissing(seller_id)
    paused_at = seller.review_paused_at
    return AutoReviewState(
        paused=paused_at is not None,
        paused_at=datetime.fromtimestamp(int(paused_at), UTC) if paused_at is not None else None,
        waiting=_waiting(seller_id, now) if paused_at is not None else 0,
    )


def pause(seller_id: str, *, now: datetime, actor: str = "seller") -> AutoReviewState:
    """Pause automatic reviews; the open ones wait. Pausing a paused seller changes nothing."""
    if sellers.get(seller_id) is None:
        raise SellerMissing(seller_id)
    if seller_marks.set_review_paused(seller_id, True, now=now):
        held = 0
        for task in tasks.open_tasks(seller_id):
            if not tasks.is_explanation(task.tid) and hold_paused(task, now=now):
                held += 1
        audit.append(
            seller_id, actor=actor, action="auto_review.pause", target=None, result="ok", detail={"held": held}, now=now
        )
        count("AutoReviewPaused")
    return state_of(seller_id, now=now)


def hold_paused(task: Task, *, now: datetime) -> Task | None:
    """Hold a review while its seller is paused. It stays in the due index at the close of its rating window, so
    it expires then (``expire_past_window``) even if the seller never resumes."""
    closes = timing.window_closes_at(tasks.trade_end_of(task), rules_in_force())
    shards = container().settings.due_shards
    return tasks.add_hold(task.seller_id, task.tid, PAUSED, now=now, wake_at=closes, shards=shards)


def expire_past_window(task: Task, *, now: datetime) -> Task | None:
    """Expire a held review whose rating window has closed (``paused_window_closed`` when the seller's pause
    held it); None when it is not held or its window is still open."""
    if task.state != State.HELD.value or not timing.is_window_closed(now, tasks.trade_end_of(task), rules_in_force()):
        return None
    reason = EXPIRED_WHILE_PAUSED if PAUSED in (task.holds or set()) else "window_closed"
    expired = tasks.expire_held(task.seller_id, task.tid, now=now, reason=reason)
    if expired is not None:
        count("HeldReviewExpired")
    return expired


def resume(seller_id: str, *, now: datetime, actor: str = "seller") -> AutoReviewState:
    """Resume automatic reviews: the waiting ones are scheduled again, or expire when their window closed."""
    if sellers.get(seller_id) is None:
        raise SellerMissing(seller_id)
    if seller_marks.set_review_paused(seller_id, False, now=now):
        released, expired = release_paused(seller_id, now=now)
        audit.append(
            seller_id,
            actor=actor,
            action="auto_review.resume",
            target=None,
            result="ok",
            detail={"released": released, "expired": expired},
            now=now,
        )
        count("AutoReviewResumed")
    return state_of(seller_id, now=now)


def release_paused(seller_id: str, *, now: datetime) -> tuple[int, int]:
    """Lift the ``paused`` hold from every held review; returns (scheduled again or still held for more, expired)."""
    seller = sellers.get(seller_id)
    settings = view_of(seller).timing_settings()
    rules = rules_in_force()
    shards = container().settings.due_shards
    released = expired = 0
    for task in tasks.held_tasks(seller_id):
        if PAUSED not in (task.holds or set()):
            continue
        due = timing.due_after_refund_closed(now, tasks.trade_end_of(task), settings, rules, spread=rng().random())
        if due is None:
            if tasks.expire_held(seller_id, task.tid, now=now, reason=EXPIRED_WHILE_PAUSED) is not None:
                expired += 1
            continue
        if tasks.remove_hold(seller_id, task.tid, PAUSED, now=now, shards=shards, due_at=due) is not None:
            released += 1
    count("Released_paused", released)
    return released, expired

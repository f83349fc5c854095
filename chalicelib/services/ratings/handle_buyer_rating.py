"""Use case: the buyer rated the trade: record it, release or suppress the review, and follow the seller's policy."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain import timing
from chalicelib.domain.buyer_rating import BuyerRatingOutcome, decide_on_buyer_rating
from chalicelib.domain.market_time import market_date
from chalicelib.domain.task_state import FINAL, State
from chalicelib.marketplace.topics import TradeRated
from chalicelib.services.alerts.alerts import alert
from chalicelib.services.reviews.skip_task import skip_task
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import view_of
from chalicelib.store import audit, blacklist, sellers, stats, tasks
from chalicelib.store.models import Task
from chalicelib.telemetry import count


class TradeNotKnownYet(RuntimeError):
    """The rating came before the trade's own message: the sender retries it later."""


def on_trade_rated(seller_id: str, rated: TradeRated, *, now: datetime, text: str | None = None) -> str:
    """Apply a buyer's rating once; a redelivery repeats nothing (every effect is keyed or conditional).

    ``text`` is the buyer's words when the caller has them (reconcile reads them with the rating); a push has
    none, and the bad-review center reads them from the marketplace.
    """
    if rated.rater != "buyer":
        return "ignored"
    # The reaction depends on the rating and the seller's settings, not on the task: decided before the rating is
    # recorded, so a rating with nothing to follow (a good one, outside ``after_buyer``) is recorded and marked
    # applied in one write.
    seller = sellers.cached(seller_id)
    view = view_of(seller) if seller is not None else None
    outcome = decide_on_buyer_rating(rated.result, view.settings, features=view.features()) if view else None
    if _nothing_follows(outcome, besides="release"):
        released = _record_and_release(seller_id, rated, view, now)
        if released is not None:
            _counted(seller_id, rated.result, now)
            return "ok"
    first = tasks.set_buyer_rating(seller_id, rated.tid, rated.result, now=now, applied=_nothing_follows(outcome))
    task = first or tasks.get(seller_id, rated.tid)
    if task is None or task.stub:
        raise TradeNotKnownYet(rated.tid)
    if task.buyer_rating != rated.result:
        return "duplicate"  # a different earlier rating stands; ratings are not changed here
    if first is not None:
        _counted(seller_id, rated.result, now)
    if first is None and task.rating_applied_at is not None:
        return "duplicate"  # applied whole before: nothing to repeat
    if outcome is None:  # no seller to decide for
        return "ok"
    _apply_task_action(task, outcome.task_action, view.timing_settings(), now)
    if outcome.blacklist and task.buyer_hash:
        masked = task.buyer_masked or "*"
        if blacklist.add(seller_id, task.buyer_hash, masked=masked, reason="auto_bad_rating", now=now, tid=rated.tid):
            audit.append(
                seller_id,
                actor="auto",
                action="blacklist.add",
                target=task.buyer_hash,
                result="ok",
                detail={"source": "auto_bad_rating", "tid": rated.tid},
                now=now,
            )
    if outcome.alert:
        alert(
            seller_id,
            f"buyer_rating_{rated.result}",
            f"A buyer rated trade {rated.tid} {rated.result}.",
            now=now,
            detail={"tid": rated.tid, "result": rated.result, "buyer": task.buyer_masked},
            once_key=f"rating:{seller_id}:{rated.tid}",
        )
    if rated.result != "good":
        from chalicelib.services.ratings.rating_center import on_bad_rating

        on_bad_rating(seller_id, task, view, text=text, auto=outcome.explain, now=now)
    if task.rating_applied_at is None:
        # Last: the rating was recorded first, so an invocation that timed out in between is completed by the
        # next delivery or reconcile, which sees the rating recorded but not applied.
        tasks.mark_rating_applied(seller_id, rated.tid, now=now)
    return "ok" if first is not None else "duplicate"


def _nothing_follows(outcome: BuyerRatingOutcome | None, *, besides: str = "none") -> bool:
    """True when the rating does nothing but ``besides`` to the task: no blacklist, alert or explanation."""
    return (
        outcome is not None
        and outcome.task_action == besides
        and not (outcome.blacklist or outcome.alert or outcome.explain)
    )


def _counted(seller_id: str, result: str, now: datetime) -> None:
    stats.bump(seller_id, stats.day_bucket(market_date(now).isoformat()), {f"rating_{result}": 1}, now=now)
    count(f"BuyerRating_{result}")


def _record_and_release(seller_id: str, rated: TradeRated, view, now: datetime) -> Task | None:
    """A rating whose one effect is to release a waiting task: the task is read, then recorded, moved and marked
    applied in one write (three otherwise). None when it is not a waiting task, or changed since it was read:
    the caller then records the rating as any other."""
    task = tasks.get(seller_id, rated.tid)
    if task is None or task.stub or task.buyer_rating is not None:
        return None
    due = _released_to(task, view.timing_settings(), now)
    if due is None:
        return None
    return tasks.record_rating_and_release(seller_id, rated.tid, rated.result, now=now, due_at=due, read=task)


def _released_to(task: Task, settings, now: datetime) -> datetime | None:
    """Where a release moves the task, or None when it would not move: only a task still waiting moves (the
    write's own condition), so one posted or held already costs no write."""
    if task.state != State.SCHEDULED.value or task.due_at is None:
        return None
    due = timing.due_after_buyer_rated(now, tasks.trade_end_of(task), settings, rules_in_force())
    return due if task.due_at > due.timestamp() else None


def _apply_task_action(task: Task, action: str, settings, now: datetime) -> None:
    if State(task.state) in FINAL:
        return  # posted or ended for good (read by the rating's write): a move would be refused, and billed
    if action == "release":
        due = _released_to(task, settings, now)
        if due is not None:
            tasks.reschedule(task.seller_id, task.tid, due, now=now)
    elif action == "skip":
        skip_task(task, "buyer_bad_rating", now=now)
    elif action == "hold":
        tasks.add_hold(task.seller_id, task.tid, "buyer_review", now=now)

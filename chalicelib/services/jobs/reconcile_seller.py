"""Use case: once a day, compare a seller's marketplace records with ours, so a missed message loses nothing.

Three passes over the job's window, each a marketplace read and one task read per item on our side:

1. finished trades (``taobao.trades.sold.increment.get``) without a task get one while the window is open, and a
   review waiting long past its time outside the due index (its queued job was lost) joins the index;
2. ratings the seller gave (``taobao.traderates.get`` give/seller) settle open tasks as posted — the review
   exists, whoever wrote it (the seller by hand, or a worker that died before recording its post);
3. buyer ratings (``taobao.traderates.get`` get/buyer) the app never heard of are applied as if pushed.

The passes run in this order so a trade found by the first is there for its rating in the third. Every
write is a conditional put or transition, so a job that runs twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from chalicelib.container import container
from chalicelib.domain import timing
from chalicelib.domain.task_state import OPEN, Event, State
from chalicelib.marketplace import errors as mkt
from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import MalformedMessage
from chalicelib.marketplace.topics import TradeRated
from chalicelib.services import skipped_items
from chalicelib.services.jobs.seller_jobs import Run, SellerJob
from chalicelib.services.onboarding.backfill import resume_if_stalled
from chalicelib.services.onboarding.message_permits import permit_messages
from chalicelib.services.ratings.handle_buyer_rating import on_trade_rated
from chalicelib.services.ratings.rating_center import weekly_summary
from chalicelib.services.reviews import review_queue
from chalicelib.services.reviews.refund_sync import sync_refunds
from chalicelib.services.reviews.schedule_review import schedule_trade
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_tokens import access_token, mark_reauth
from chalicelib.services.top_client import top_client
from chalicelib.store import audit, control, sellers, tasks
from chalicelib.telemetry import count, logger

# A run looks back two days, so a day whose run failed (or never came) is covered by the next one.
LOOKBACK = timedelta(days=2)


@dataclass
class Reconciled:
    """What one run did for a seller: ``done``, or ``skipped`` with the reason, and what it changed."""

    outcome: str = "done"
    reason: str | None = None
    trades_seen: int = 0
    scheduled: int = 0
    settled: int = 0
    ratings_applied: int = 0
    refunds_applied: int = 0


def _serve(seller_id: str, run: Run, now: datetime) -> dict[str, int]:
    with review_queue.batched():
        result = reconcile_seller(seller_id, now=now, since=run.at - LOOKBACK)
    counts = {"scheduled": result.scheduled, "settled": result.settled, "ratings_applied": result.ratings_applied}
    return {result.outcome if result.reason is None else f"{result.outcome}_{result.reason}": 1} | {
        key: value for key, value in counts.items() if value
    }


# The daily run: every seller not purged, page by page of the ``by_shard`` index, fanned out through the
# reconcile queue (``services.jobs.seller_jobs``); each looks back two days from the run's time.
JOB = SellerJob(
    name="reconcile", index="by_shard", queue_url=lambda: container().settings.reconcile_queue_url, serve=_serve
)


def reconcile_seller(seller_id: str, *, now: datetime, since: datetime | None = None) -> Reconciled:
    """Reconcile one seller over [``since``, ``now``] (default: the last two days).

    Raises ``control.CallsPaused`` during a quota ban and lets transient marketplace errors through, so the
    queue retries the job; an invalid session marks the seller for re-authorization and skips it.
    """
    rules = rules_in_force()
    oldest = now - timedelta(days=rules.rating_window_days)
    since = min(max(since or now - LOOKBACK, oldest), now)
    seller = sellers.get(seller_id)
    if seller is None or seller.status == "purged":
        count("ReconcileSkipped")
        return Reconciled("skipped", "unknown_seller")
    session = access_token(seller, now=now)
    if session is None:
        count("ReconcileSkipped")
        return Reconciled("skipped", "no_session")
    if control.read_switches(fresh=True).paused(now):
        raise control.CallsPaused(f"marketplace calls are paused; seller {seller_id} is reconciled later")
    if not seller.messages_permitted:
        permit_messages(seller_id, now=now)  # a permit that failed before is tried again every day until it holds
    resume_if_stalled(seller, now=now)
    result = Reconciled()
    try:
        # Refunds first: a refund whose push was lost holds or skips its trade before anything is scheduled.
        result.refunds_applied = sync_refunds(seller, session, now=now, since=since)
        _schedule_missed_trades(seller_id, session, since, now, result)
        _settle_given_ratings(seller_id, session, since, now, result)
        _apply_missed_buyer_ratings(seller_id, session, since, now, result)
        weekly_summary(seller_id, now=now)  # the daily per-seller pass carries the Monday complaint summary
    except mkt.SessionInvalid:
        mark_reauth(seller_id, now=now)
        result.outcome, result.reason = "skipped", "reauth"
    except mkt.Throttled as exc:
        control.pause_until(now + timedelta(seconds=exc.ban_seconds or 60), now=now)
        raise
    logger.info(
        "seller reconciled",
        extra={
            "seller_id": seller_id,
            "outcome": result.outcome,
            "trades_seen": result.trades_seen,
            "scheduled": result.scheduled,
            "settled": result.settled,
            "ratings_applied": result.ratings_applied,
            "refunds_applied": result.refunds_applied,
        },
    )
    return result


def _schedule_missed_trades(seller_id: str, session: str, since: datetime, now: datetime, result: Reconciled) -> None:
    rules = rules_in_force()
    for trade in top_client().trades_sold_increment_get(session, since, now):
        result.trades_seen += 1
        if trade.end_time is None or timing.is_window_closed(now, trade.end_time, rules):
            continue
        existing = tasks.get(seller_id, str(trade.tid))
        if existing is not None and not existing.stub:
            if review_queue.stranded(existing, now=now) and review_queue.rescue(existing):
                logger.info("stranded review rescued", extra={"seller_id": seller_id, "tid": existing.tid})
            continue
        try:
            message = topics.trade_success_of(trade)
            # The same use case as the pushed message: its conditional put makes a racing push harmless.
            scheduled = schedule_trade(seller_id, message, pub_time=trade.end_time, now=now)
        except (ValidationError, MalformedMessage) as exc:
            # One impossible trade (too long a field, an end in the future) is kept for the operator; the rest go on.
            count("ReconcileTradeUnreadable")
            api = "taobao.trades.sold.increment.get"
            skipped_items.record(api, skipped_items.reason_of(exc), str(trade.tid), now=now, seller_id=seller_id)
            continue
        if scheduled.outcome == "created":
            result.scheduled += 1
            count("ReconcileTradeScheduled")
            logger.info("missed trade scheduled", extra={"seller_id": seller_id, "tid": message.tid})


def _rated_trades(seller_id: str, session: str, *, given: bool, since: datetime, now: datetime) -> Iterator[tuple]:
    """``(tid, rating, task or None)`` once per trade for the ratings of the window: the ones the seller gave, or the
    ones buyers gave (a trade of several items is listed once per item)."""
    kind = {"rate_type": "give", "role": "seller"} if given else {"rate_type": "get", "role": "buyer"}
    seen: set[str] = set()
    for rate in top_client().traderates_get(session, **kind, start_date=since, end_date=now):
        tid = str(rate.tid)
        if tid not in seen:
            seen.add(tid)
            yield tid, rate, tasks.get(seller_id, tid)


def _settle_given_ratings(seller_id: str, session: str, since: datetime, now: datetime, result: Reconciled) -> None:
    shards = container().settings.due_shards
    for tid, rate, task in _rated_trades(seller_id, session, given=True, since=since, now=now):
        if task is None or task.stub or State(task.state) not in OPEN:
            continue
        rated_at = int((rate.created or now).timestamp())
        record = audit.new_record(
            seller_id,
            actor="reconcile",
            action="task.settle",
            target=tid,
            result="already_rated",
            detail={"rated_at": rated_at, "was": task.state},
            now=now,
        )
        settled = tasks.transition(
            seller_id,
            tid,
            Event.SETTLE,
            now=now,
            shards=shards,
            reason="already_rated",
            fields={"holds": None, "response": {"settled_by": "reconcile", "posted_at": rated_at}},
            audit=record,
        )
        if settled is not None:
            result.settled += 1
            count("ReconcileSettled")
            logger.info("task settled as posted", extra={"seller_id": seller_id, "tid": tid, "was": task.state})


def _apply_missed_buyer_ratings(
    seller_id: str, session: str, since: datetime, now: datetime, result: Reconciled
) -> None:
    for tid, rate, task in _rated_trades(seller_id, session, given=False, since=since, now=now):
        if task is None or task.stub or (task.buyer_rating is not None and task.rating_applied_at is not None):
            continue  # a rating recorded but not applied whole (a timeout in between) is applied again
        try:
            rated = TradeRated(
                tid=tid, oid=None if rate.oid is None else str(rate.oid), rater="buyer", result=rate.result
            )
        except ValidationError as exc:
            count("ReconcileRatingUnreadable")
            skipped_items.record(
                "taobao.traderates.get", skipped_items.reason_of(exc), tid, now=now, seller_id=seller_id
            )
            continue
        on_trade_rated(seller_id, rated, now=now, text=rate.content or None)
        result.ratings_applied += 1
        count("ReconcileRatingApplied")
        logger.info("missed buyer rating applied", extra={"seller_id": seller_id, "tid": tid})

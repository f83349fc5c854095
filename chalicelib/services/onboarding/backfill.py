"""Use case: on install, review the trades the seller finished before it (补评): every finished trade still inside the
rating window, not rated by the seller yet, gets its task as if its message had been pushed.

A run is a chain of jobs on the backfill queue, one marketplace page each, so it is paced by that queue's own
consumers (never in front of the daily reconcile) and the global pause during a quota ban, and no invocation runs
long:

1. ``refunds`` — the refunds of the window (``taobao.refunds.receive.get``), applied as their pushes would be, so a
   refunded trade is held or skipped when it is scheduled;
2. ``trades`` — one day window at a time (``taobao.trades.sold.increment.get`` accepts one day): a first read
   learns the day's total, then its pages are read from the last one back, as the platform documents (it lists the
   newest change first; see ``client.newest_first``); a trade the seller already rated (the trade's
   ``seller_rate``) is skipped; the others go through the pushed message's use case (``schedule_trade``: the
   seller's settings, blacklist, plan and refunds apply), and a trade the buyer already rated (``buyer_rate``) gets
   that rating (``taobao.traderates.get`` for its tid) applied
   right after its task is written, and the page's review jobs are sent only then, so a neutral or bad rating
   suppresses the review before a worker is asked to post it (only a sweep in those milliseconds could be first).
   A day the platform cannot page whole (more than ``MAX_PAGE_NO`` pages) is split in two and each half read on its
   own, down to a second, like every windowed read of the client: the halves still to read
   ride along in the job (``pending``), so a shop selling 50,000 trades a day is reviewed whole.

Tasks are keyed by trade, so a second run (a reinstall) finds the first run's tasks and doubles nothing. The run's
progress is on the seller (``backfill``) for the API and the dashboard; a newer run replaces an older one, whose
remaining jobs stop. Each step writes the job after it into that progress (``next``) before sending it, so a run
whose job was lost (a timeout between the two, a dead-letter queue) is taken up by the daily reconcile from that job,
not from its start (``resume_if_stalled``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from chalicelib.container import container
from chalicelib.domain import timing
from chalicelib.domain.queue_messages import BackfillJob
from chalicelib.marketplace import client as top
from chalicelib.marketplace import errors as mkt
from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import MalformedMessage
from chalicelib.marketplace.models import Trade
from chalicelib.marketplace.topics import TradeRated
from chalicelib.services import skipped_items
from chalicelib.services.alerts.alerts import alert
from chalicelib.services.onboarding.message_permits import ensure_permitted
from chalicelib.services.ratings.handle_buyer_rating import on_trade_rated
from chalicelib.services.reviews import review_queue
from chalicelib.services.reviews.refund_sync import sync_refunds
from chalicelib.services.reviews.schedule_review import schedule_trade
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_tokens import access_token, mark_reauth
from chalicelib.services.top_client import top_client
from chalicelib.store import control, queues, seller_marks, sellers, tasks
from chalicelib.telemetry import count, logger

DAY = timedelta(days=1)
PAGE_SIZE = 100  # the trades API's largest page
FINISHED = "TRADE_FINISHED"
COUNTERS = ("trades", "scheduled", "already_rated", "existing", "skipped")
STALLED = timedelta(days=1)  # a running backfill moves every few seconds; a day without a move lost its job


@dataclass(frozen=True)
class Job:
    """One step of a run: ``refunds``, or ``trades`` of day window ``window`` (0 = oldest), page
    ``page``; ``span`` narrows that day to a part of it (epoch seconds, inclusive) once the day had to be split or
    is read over several pages, and ``pending`` lists the day's other parts still to read. ``down`` marks the pages
    read from the last one back after the first read of a part learned its total."""

    seller_id: str
    run: int
    step: str
    window: int = 0
    page: int = 1
    span: tuple[int, int] | None = None
    pending: tuple[tuple[int, int], ...] = ()
    down: bool = False

    def as_message(self) -> dict:
        """The job as the backfill queue carries it."""
        return BackfillJob(**asdict(self)).body()

    @classmethod
    def from_message(cls, message: BackfillJob) -> Job:
        """The job a (parsed) backfill-queue message names."""
        return cls(**message.model_dump(exclude={"kind"}))


def start_backfill(seller_id: str, *, now: datetime) -> int:
    """Start a run for the seller (replacing any earlier one) and queue its first job; returns the run id."""
    days = rules_in_force().rating_window_days
    run = int(now.timestamp())
    progress = {
        "state": "running",
        "started_at": run,
        "since": int((now - timedelta(days=days)).timestamp()),
        "until": run,
        "windows": days,  # one-day windows from ``since``; the last one ends at ``until``
        "windows_done": 0,
        **dict.fromkeys(COUNTERS, 0),
    }
    if not seller_marks.start_backfill(seller_id, run, progress, now=now):
        return run
    try:
        queues.send_jobs(container().settings.backfill_queue_url, [Job(seller_id, run, "refunds").as_message()])
    except Exception:
        # Shown as stopped, and started again by the seller's next authorization.
        _stop(Job(seller_id, run, "refunds"), progress, "not_started", now=now)
        raise
    count("BackfillStarted")
    logger.info("backfill started", extra={"seller_id": seller_id, "days": days})
    return run


def resume_if_stalled(seller, *, now: datetime) -> bool:
    """Queue again the job a run shown as running waits for, when it has not moved for ``STALLED``: an invocation
    that timed out between a step's progress and the send of the next job (or before the run's first job), or a job
    lost to the dead-letter queue, left the run without one. The run goes on from the first job it has not done
    (the progress names it, ``next``), not from its start; every step is keyed by trade, so a page read twice finds
    its tasks as ``existing``. True when it was queued again."""
    progress = seller.backfill or {}
    if progress.get("state") != "running" or seller.backfill_run is None:
        return False
    moved = progress.get("updated_at") or progress.get("started_at") or 0
    if now.timestamp() - moved < STALLED.total_seconds():
        return False
    job = _waiting(seller.seller_id, int(seller.backfill_run), progress)
    queues.send_jobs(container().settings.backfill_queue_url, [job.as_message()])
    count("BackfillResumed")
    logger.warning(
        "stalled backfill queued again",
        extra={"seller_id": seller.seller_id, "run": job.run, "step": job.step, "window": job.window},
    )
    return True


def _waiting(seller_id: str, run: int, progress: dict) -> Job:
    """The job the run waits for: the one its last step queued (``next``), else its first."""
    try:
        job = Job.from_message(BackfillJob.model_validate(progress["next"]))
    except (KeyError, TypeError, ValidationError):
        return Job(seller_id, run, "refunds")
    return job if (job.seller_id, job.run) == (seller_id, run) else Job(seller_id, run, "refunds")


def run_job(job: Job, *, now: datetime) -> str:
    """Do one step of a run and queue the next; returns what happened (``done``, ``next``, ``stale``, ``stopped``).

    Raises ``control.CallsPaused`` during a quota ban and lets transient marketplace errors through: the queue
    delivers the job again later. An invalid session stops the run (re-authorizing starts a new one).
    """
    seller = sellers.get(job.seller_id)
    progress = dict(seller.backfill or {}) if seller is not None else {}
    if seller is None or seller.backfill_run != job.run or progress.get("state") != "running":
        count("BackfillJobStale")
        return "stale"
    session = access_token(seller, now=now)
    if session is None:
        return _stop(job, progress, "no_session", now=now)
    if control.read_switches(fresh=True).paused(now):
        raise control.CallsPaused(f"marketplace calls are paused; backfill of {job.seller_id} goes on later")
    try:
        following = _step(job, seller, session, progress, now=now)
    except mkt.SessionInvalid:
        mark_reauth(job.seller_id, now=now)
        return _stop(job, progress, "reauth", now=now)
    except mkt.Throttled as exc:
        control.pause_until(now + timedelta(seconds=exc.ban_seconds or 60), now=now)
        raise
    if following is None:
        progress.update(state="done", finished_at=int(now.timestamp()))
        progress.pop("next", None)
        ensure_permitted(job.seller_id, now=now)  # a permit that failed at install is tried once more here
    else:
        # Written with the step's progress, before the send: a run whose next job is lost resumes here.
        progress["next"] = following.as_message()
    if not seller_marks.save_backfill(job.seller_id, job.run, _stamped(progress, now), now=now):
        return "stale"
    if following is None:
        alert(
            job.seller_id,
            "backfill_done",
            "backfill finished",
            now=now,
            detail={k: progress.get(k, 0) for k in COUNTERS},
            once_key=f"backfill:{job.seller_id}:{job.run}",
        )
        count("BackfillDone")
        logger.info("backfill done", extra={"seller_id": job.seller_id, **{k: progress[k] for k in COUNTERS}})
        return "done"
    queues.send_jobs(container().settings.backfill_queue_url, [following.as_message()])
    return "next"


def _step(job: Job, seller, session: str, progress: dict, *, now: datetime) -> Job | None:
    since = datetime.fromtimestamp(progress["since"], UTC)
    until = datetime.fromtimestamp(progress["until"], UTC)
    if job.step == "refunds":
        sync_refunds(seller, session, now=now, since=since)
        return Job(job.seller_id, job.run, "trades")
    is_last = job.window >= progress["windows"] - 1
    if job.span is None:
        start = since + job.window * DAY
        # Windows are inclusive on both ends (second precision): each ends a second before the next one starts.
        end = until if is_last else start + DAY - timedelta(seconds=1)
    else:
        start, end = (datetime.fromtimestamp(bound, UTC) for bound in job.span)
    trades, total = top_client().trades_sold_increment_page(session, start, end, job.page, page_size=PAGE_SIZE)
    parts = list(job.pending)
    if not job.down:
        # The first read of a part learns its total. The platform lists the newest change first and documents
        # reading the pages from the last one back, so a trade that changes meanwhile moves unread trades towards
        # page 1, never onto a page already read: the pages follow from the last to page 1, read again.
        last = -(-total // PAGE_SIZE)
        if total > top.MAX_PAGE_NO * PAGE_SIZE:
            split = top.halves(start, end)
            if split is not None:
                # More than the platform serves of one query: this part is read again as two halves (the earlier
                # half first), each from its own last page back.
                parts = [(int(lo.timestamp()), int(hi.timestamp())) for lo, hi in split] + parts
                return _next_part(job, parts, progress, last=is_last)
            count("BackfillSecondOverPageLimit")  # one second holding more than the limit: nothing finer to ask for
            last = top.MAX_PAGE_NO
        if last > 1:
            return replace(job, page=last, down=True, span=_span_of(start, end) if job.span is None else job.span)
    # The page's review jobs go out together when it is done: by then each buyer rating is applied to its task.
    with review_queue.batched():
        for trade in trades:
            progress["trades"] += 1
            progress[_backfill_trade(job.seller_id, session, trade, now=now)] += 1
    if job.down and job.page > 1:
        return replace(job, page=job.page - 1)
    return _next_part(job, parts, progress, last=is_last)


def _span_of(start: datetime, end: datetime) -> tuple[int, int]:
    return int(start.timestamp()), int(end.timestamp())


def _next_part(job: Job, parts: list[tuple[int, int]], progress: dict, *, last: bool) -> Job | None:
    """The job reading the day's next part, the next day's first job, or None when the run is done."""
    if parts:
        return Job(job.seller_id, job.run, "trades", job.window, 1, parts[0], tuple(parts[1:]))
    progress["windows_done"] = job.window + 1
    return None if last else Job(job.seller_id, job.run, "trades", job.window + 1)


def _backfill_trade(seller_id: str, session: str, trade: Trade, *, now: datetime) -> str:
    """What became of one trade: ``scheduled``, ``already_rated``, ``existing`` or ``skipped``."""
    if trade.status != FINISHED or trade.end_time is None:
        return "skipped"
    if timing.is_window_closed(now, trade.end_time, rules_in_force()):
        return "skipped"
    existing = tasks.get(seller_id, str(trade.tid))
    if existing is not None and not existing.stub:
        return "existing"
    if trade.seller_rate:
        return "already_rated"
    try:
        message = topics.trade_success_of(trade)
        rating = _buyer_rating(session, trade) if trade.buyer_rate else None
        scheduled = schedule_trade(seller_id, message, pub_time=trade.end_time, now=now)
    except (ValidationError, MalformedMessage) as exc:
        # One impossible trade (too long a title, an end in the future) is kept for the operator; the rest go on.
        count("BackfillTradeUnreadable")
        api = "taobao.trades.sold.increment.get"
        skipped_items.record(api, skipped_items.reason_of(exc), str(trade.tid), now=now, seller_id=seller_id)
        return "skipped"
    if rating is not None:
        on_trade_rated(seller_id, rating, now=now)
    return "scheduled" if scheduled.outcome == "created" else "existing"


def _buyer_rating(session: str, trade: Trade) -> TradeRated | None:
    rates = top_client().traderates_get(session, rate_type="get", role="buyer", tid=trade.tid)
    for rate in rates:
        try:
            return TradeRated(tid=str(trade.tid), oid=None if rate.oid is None else str(rate.oid), result=rate.result)
        except ValidationError:
            count("BackfillRatingUnreadable")
    return None


def _stop(job: Job, progress: dict, why: str, *, now: datetime) -> str:
    progress.update(state="stopped", reason=why, finished_at=int(now.timestamp()))
    seller_marks.save_backfill(job.seller_id, job.run, _stamped(progress, now), now=now)
    count("BackfillStopped")
    logger.info("backfill stopped", extra={"seller_id": job.seller_id, "why": why})
    return "stopped"


def _stamped(progress: dict, now: datetime) -> dict:
    return {**progress, "updated_at": int(now.timestamp())}

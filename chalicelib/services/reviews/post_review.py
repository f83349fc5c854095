"""Use case: the one write path to the marketplace. A due task — a review, or the reply to a buyer's rating (an
explanation task) — is claimed, checked, passed through the write guard, sent once, and recorded.

Every marketplace write goes this way and no other: queue (its job on the review queue, and the task in the
``due`` index unless the job was queued at once, ``review_queue``), claim (a conditional write: one worker at a
time), guard (kill switches, dry run, content lint, a reservation in the seller's hour counter, the circuit
breaker; ``domain.guard.consequence`` says what a refusal does), the one classification of the marketplace's
answer (a transient error is retried with backoff, a ban pauses every write until it ends, an invalid session
holds the seller's work for re-authorization, a refusal fails the task and is shown), and the audit record.
Nothing is written to the marketplace inside an inbound request: pushes and API calls only create tasks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from chalicelib.container import container
from chalicelib.domain import guard, order_filters, timing
from chalicelib.domain.lint import LintKind, lint
from chalicelib.domain.market_time import MARKET_TZ, market_date
from chalicelib.domain.task_state import Event
from chalicelib.marketplace import errors as mkt
from chalicelib.marketplace import models as mkt_models
from chalicelib.services.alerts.alerts import alert
from chalicelib.services.reviews import review_queue
from chalicelib.services.reviews.auto_review import (
    EXPIRED_WHILE_PAUSED,
    PAUSED,
    expire_past_window,
    hold_paused,
    is_paused,
)
from chalicelib.services.reviews.refund_sync import refunds_stale, sync_if_stale
from chalicelib.services.reviews.trade_filters import filter_reason
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import SellerView, view_of
from chalicelib.services.top_client import top_client
from chalicelib.store import audit, blacklist, control, ratings, sellers, stats, tasks
from chalicelib.store import errors as store_errors
from chalicelib.store.models import Audit, Task
from chalicelib.telemetry import count, logger


@dataclass(frozen=True)
class Write:
    """What differs between the kinds of marketplace write; everything else is the one path."""

    action: str  # the API, as the audit trail names it
    lint_kind: LintKind
    counter: str  # the seller's hour-bucket counter it is reserved in (both count against the hourly cap)
    metric: str
    failed_alert: str


ITEM_TITLE_MAX = 120  # the task's item title is display text, cut as the trade messages' titles are

REVIEW = Write("taobao.traderate.add", "review", "posts", "Review", "review_failed")
EXPLANATION = Write("taobao.traderate.explain.add", "explain", "explains", "Explanation", "explanation_failed")
# The order memo of a warned shop (差评师预警); its text is the app's own, linted like an explanation.
MEMO = Write("taobao.trade.memo.update", "explain", "memos", "Memo", "memo_failed")


@dataclass(frozen=True)
class Outcome:
    """What the worker did with one job: the task's new state (or ``not_due``) and why."""

    result: str
    reason: str | None = None


@dataclass
class _Job:
    task: Task
    view: SellerView
    now: datetime
    shards: int
    reserved: bool = False  # a slot of the seller's hourly cap is held for this write
    sent: bool = False  # the marketplace accepted the write

    @property
    def seller_id(self) -> str:
        return self.task.seller_id

    @property
    def tid(self) -> str:
        return self.task.tid

    @property
    def trade_end(self) -> datetime:
        return datetime.fromtimestamp(self.task.trade_end, UTC)

    @property
    def write(self) -> Write:
        if tasks.is_memo(self.tid):
            return MEMO
        return EXPLANATION if tasks.is_explanation(self.tid) else REVIEW

    def closes_at(self, rules) -> datetime:
        """When the marketplace stops taking this write: the rating window, or the explanation window; a memo is
        worth writing while the order is being handled, a rating window after it was queued."""
        if self.write is MEMO:
            return datetime.fromtimestamp(self.task.created_at, UTC) + timedelta(days=rules.rating_window_days)
        if self.write is EXPLANATION:
            rated = self.task.buyer_rated_at or self.task.created_at
            return datetime.fromtimestamp(rated, UTC) + timedelta(days=rules.explain_window_days)
        return timing.window_closes_at(self.trade_end, rules)


def _day(now: datetime) -> str:
    return market_date(now).isoformat()


def _hour_bucket(now: datetime) -> str:
    return stats.hour_bucket(_day(now), now.astimezone(MARKET_TZ).hour)


def _finish(job: _Job, event: Event, reason: str | None, *, counter: str | None = None, **kw) -> Outcome:
    if event is Event.SKIP and "audit" not in kw:
        # The seller's 操作日志 lists every skipped review with its reason, in the same transaction as the skip.
        kw["audit"] = _write_record(job, "skipped", {"reason": reason})
    done = tasks.transition(job.seller_id, job.tid, event, now=job.now, shards=job.shards, reason=reason, **kw)
    if done is None:
        return Outcome("lost_claim", reason)
    if counter and job.write is REVIEW:  # the day counters are the seller's review statistics
        stats.bump(job.seller_id, stats.day_bucket(_day(job.now)), {counter: 1}, now=job.now)
    if job.write is EXPLANATION:
        _explanation_settled(job, event, reason)
    count(f"{job.write.metric}{event.value.capitalize()}")
    return Outcome(event.value, reason)


# What a finished explanation task shows on its trade's rating (the bad-review center reads it there).
_EXPLANATION_STATE = {Event.POST: "explained", Event.FAIL: "failed", Event.EXPIRE: "expired"}


def _explanation_settled(job: _Job, event: Event, reason: str | None) -> None:
    state = "dry_run" if reason == "dry_run" else "refused" if (reason or "").startswith("lint") else None
    state = state or _EXPLANATION_STATE.get(event)
    if state:
        trade = tasks.trade_tid(job.tid)
        ratings.record_explanation(job.seller_id, trade, state=state, text=job.task.content or "", now=job.now)


def _retry(job: _Job, reason: str, due_at: datetime, *, spend_attempt: bool) -> Outcome:
    rules = rules_in_force()
    if spend_attempt and timing.retries_exhausted(int(job.task.attempts or 0) + 1, rules):
        trade = tasks.trade_tid(job.tid)
        alert(
            job.seller_id, job.write.failed_alert, f"trade {trade}: {reason}", now=job.now, once_key=f"failed:{job.tid}"
        )
        return _finish(job, Event.FAIL, f"{reason}_exhausted", counter="failed", add_attempt=True)
    due_at = min(due_at, job.closes_at(rules) - timedelta(minutes=1))
    outcome = _finish(job, Event.RETRY_LATER, reason, due_at=due_at, add_attempt=spend_attempt)
    if outcome.result == Event.RETRY_LATER.value:
        review_queue.queue_when_due(job.seller_id, job.tid, due_at, now=job.now)
    return outcome


def _hold(job: _Job, hold: str) -> Outcome:
    held = tasks.add_hold(job.seller_id, job.tid, hold, now=job.now)
    count(f"{job.write.metric}Held")
    return Outcome("held" if held else "lost_claim", hold)


def process_job(seller_id: str, tid: str, *, now: datetime) -> Outcome:
    """Run one job from the review queue (a review or an explanation task); safe to run any number of times."""
    rules = rules_in_force()
    shards = container().settings.due_shards
    claimed = tasks.transition(
        seller_id,
        tid,
        Event.CLAIM,
        now=now,
        shards=shards,
        due_at=now + timedelta(seconds=rules.claim_timeout_seconds),
        require_due=True,
    )
    if claimed is None:
        return _not_claimed(seller_id, tid, now=now)
    seller = sellers.cached(seller_id)
    if seller is None:
        return _finish(_Job(claimed, None, now, shards), Event.SKIP, "disabled", counter="skipped_disabled")
    job = _Job(claimed, view_of(seller), now, shards)
    try:
        return _decide_and_post(job)
    except Exception as exc:
        if job.reserved:
            _give_back(job)
        if job.sent or isinstance(exc, (*store_errors.UNAVAILABLE, mkt.MarketplaceError)):
            # AWS or the marketplace failing: the task stays claimed for the queue's next delivery. After an
            # accepted write, whoever meets the task next reads the rating back and records it (the same as a
            # worker that died here). A task outside the due index joins it, due when its claim lapses: the
            # queue gives up on a job after a few deliveries, the sweep never does.
            _rescue_quietly(claimed)
            raise
        return _unexpected(job, exc)


def _not_claimed(seller_id: str, tid: str, *, now: datetime) -> Outcome:
    """A job whose task could not be claimed: not due (a duplicate job, a live claim, a later time), finished, or
    held. A held task is in the due index only to be looked at when its window closes (a paused seller's review):
    it expires now."""
    task = tasks.get(seller_id, tid)
    if task is not None and task.state == "held" and expire_past_window(task, now=now) is not None:
        return Outcome("expired", EXPIRED_WHILE_PAUSED if PAUSED in (task.holds or set()) else "window_closed")
    if task is not None:
        # Early, or claimed by another worker that may yet die: this job is done, so a task outside the due index
        # joins it, due when its time comes or the claim lapses.
        review_queue.rescue(task)
    count("ReviewNotDue")
    return Outcome("not_due")


def _rescue_quietly(task: Task) -> None:
    try:
        review_queue.rescue(task)
    except store_errors.UNAVAILABLE:
        count("ReviewRescueFailed")  # the queue still holds the job: it is delivered again


def _give_back(job: _Job) -> None:
    # Not a failed write (nothing was sent): the seller's circuit breaker is not fed.
    try:
        _unreserve(job)
    except store_errors.UNAVAILABLE:
        count("ReservationNotReleased")  # the hour's counter ends with the hour


def _unexpected(job: _Job, exc: Exception) -> Outcome:
    """A claimed task whose handling failed, before any write was accepted, in a way no branch expects (a bug, or
    data no check foresaw): its hourly-cap slot is given back and it is tried again later as a spent attempt, so
    after the retry budget it ends ``failed`` with the reason and an alert, instead of the sweep reclaiming it (and
    sending its write again) every few minutes until its window closes."""
    logger.exception("review job failed unexpectedly", extra={"seller_id": job.seller_id, "tid": job.tid})
    count("ReviewUnexpectedError")
    reason = f"unexpected_{type(exc).__name__}"[:64]
    due = timing.retry_due_at(job.now, int(job.task.attempts or 0) + 1, rules_in_force(), random.random())
    return _retry(job, reason, due, spend_attempt=True)


def _decide_and_post(job: _Job) -> Outcome:
    rules = rules_in_force()
    task, view, now = job.task, job.view, job.now
    if now >= job.closes_at(rules):
        return _finish(job, Event.EXPIRE, "window_closed", counter="expired")
    if job.write is REVIEW:
        hashes = blacklist.hashes(job.seller_id, kept=bool(view.seller.has_blacklist))
        if (task.buyer_hash and task.buyer_hash in hashes) or (task.buyer_uid_hash and task.buyer_uid_hash in hashes):
            return _finish(job, Event.SKIP, "blacklisted", counter="skipped_blacklisted")
        if task.buyer_rating in ("neutral", "bad") and view.settings.on_buyer_neutral_or_bad == "skip":
            return _finish(job, Event.SKIP, "buyer_bad_rating", counter="skipped_buyer_bad_rating")
        filtered = _filtered(job)
        if isinstance(filtered, Outcome):
            return filtered
        if filtered:
            return _finish(job, Event.SKIP, filtered, counter="skipped_filtered")
        if is_paused(view.seller):
            held = hold_paused(task, now=now)
            count(f"{job.write.metric}Held")
            return Outcome("held" if held else "lost_claim", PAUSED)
    if not view.entitled(now):
        return _hold(job, "plan_expired")
    if view.seller.status == "reauth":
        return _hold(job, "reauth")
    if job.write is REVIEW and refunds_stale(view.seller, job.trade_end, now=now):
        moved = _read_refunds(job)
        if moved is not None:
            return moved
    inputs = _guard_inputs(job, control.read_switches())
    verdict = guard.decide(inputs, rules)
    if verdict.verdict == "allow":
        # Reserve this write in the seller's hour counter: the returned counts are the rate cap's and the
        # breaker's evidence (reviews and explanations alike).
        hour = stats.bump(job.seller_id, _hour_bucket(now), {job.write.counter: 1}, now=now)
        job.reserved = True
        writes, failures = hour["posts"] + hour["explains"] + hour["memos"] - 1, hour["write_failures"]
        counted = replace(inputs, posts_last_hour=writes, recent_attempts=writes + failures, recent_failures=failures)
        verdict = guard.decide(counted, rules)
        if verdict.verdict != "allow":
            stats.bump(job.seller_id, _hour_bucket(now), {job.write.counter: -1}, now=now)
            job.reserved = False
    if verdict.verdict != "allow":
        return _blocked(job, verdict)
    return _post(job)


def _filtered(job: _Job) -> str | Outcome | None:
    """The order filter that skips this review under the seller's filters as they are now (they may have changed
    since the review was scheduled), or None; an ``Outcome`` when the trade's items had to be read and were not."""
    task = job.task
    filters = job.view.settings.filters
    facts = order_filters.TradeFacts(
        amount_fen=int(task.payment) if task.payment is not None else None,
        item_ids=order_filters.item_ids_of(task.item_id),
        item_title=task.item_title,
    )
    if order_filters.items_unknown(filters, facts):
        # A pushed TradeSuccess names no item: read them, only for a seller whose filters name items.
        read = _read_items(job)
        if isinstance(read, Outcome):
            return read
        if read is not None:
            facts = replace(
                facts,
                item_ids=facts.item_ids or tuple(str(i) for i in read.item_ids),
                item_title=facts.item_title or read.item_title or None,
            )
    hashes = [h for h in (task.buyer_hash, task.buyer_uid_hash) if h]
    return filter_reason(job.seller_id, job.view.settings, facts, hashes)


def _read_items(job: _Job) -> mkt_models.TradeItems | Outcome | None:
    """The trade's items from the marketplace, recorded on the task; None when they cannot be known (the
    filters then judge without them), an ``Outcome`` when the review must wait."""
    session = _session(job)
    if session is None:
        return None  # the post finds no session either, and holds the task for re-authorization
    try:
        items = top_client().trade_items(session, int(tasks.trade_tid(job.tid)))
    except mkt.MarketplaceError as exc:
        return _read_failed(job, exc, unread="items_unread", unreadable="TradeItemsUnreadable")
    count("TradeItemsRead")
    ids = order_filters.item_ids_text(items.item_ids)
    title = None if job.task.item_title else (items.item_title[:ITEM_TITLE_MAX] or None)
    tasks.set_items(job.seller_id, job.tid, item_ids=ids, item_title=title, now=job.now)
    return items


def _read_failed(job: _Job, exc: mkt.MarketplaceError, *, unread: str, unreadable: str) -> Outcome | None:
    """What a failed read before a post means: a dead session holds the task, a throttle pauses the app and
    retries, our app's own refusal lets the post go on (None), anything else retries as a spent attempt."""
    if isinstance(exc, mkt.SessionInvalid):
        _mark_reauth(job)
        return _hold(job, "reauth")
    if isinstance(exc, mkt.Throttled):
        ban = timedelta(seconds=exc.ban_seconds or 60)
        control.pause_until(job.now + ban, now=job.now)
        return _retry(job, "throttled", job.now + ban, spend_attempt=False)
    if isinstance(exc, (mkt.PermissionDenied, mkt.RequestRejected, mkt.BusinessError)):
        # Our app's configuration or this trade, not a passing fault: the post goes on without what was read.
        logger.error("read before a post refused", extra={"seller_id": job.seller_id, "error": type(exc).__name__})
        count(unreadable)
        return None
    logger.warning("read before a post failed", extra={"tid": job.tid, "error": type(exc).__name__})
    due = timing.retry_due_at(job.now, int(job.task.attempts or 0) + 1, rules_in_force(), random.random())
    return _retry(job, unread, due, spend_attempt=True)


def _read_refunds(job: _Job) -> Outcome | None:
    """Read the seller's refunds since the last read before posting (a refund push may have been lost); the
    outcome when a refund moved this task (held or skipped), else None: the post goes on."""
    session = _session(job)
    if session is None:
        return None  # the post finds no session either, and holds the task for re-authorization
    try:
        sync_if_stale(job.view.seller, session, trade_end=job.trade_end, now=job.now)
    except mkt.MarketplaceError as exc:
        return _read_failed(job, exc, unread="refunds_unread", unreadable="RefundsUnreadable")
    task = tasks.get(job.seller_id, job.tid)
    if task is None or task.state != "claimed":
        count("ReviewStoppedByRefund")
        return Outcome(task.state if task else "gone", task.reason if task else None)
    return None


def _guard_inputs(job: _Job, switches: control.Switches) -> guard.GuardInput:
    """What the guard judges, before the hour's counts are known (they are filled in after the reservation)."""
    dry_run = (
        container().settings.stage_dry_run or job.view.settings.dry_run or job.seller_id in switches.dry_run_sellers
    )
    return guard.GuardInput(
        kill_global=switches.kill_global,
        kill_seller=job.seller_id in switches.kill_sellers,
        dry_run=dry_run,
        lint_problems=tuple(lint(job.task.content or "", rules_in_force(), kind=job.write.lint_kind)),
        posts_last_hour=0,
        hourly_cap=job.view.hourly_cap(),
        recent_attempts=0,
        recent_failures=0,
    )


def _blocked(job: _Job, decision: guard.GuardDecision) -> Outcome:
    """Carry out the guard's consequence of a refusal (``domain.guard.consequence``: the one policy)."""
    now, verdict = job.now, decision.verdict
    then = guard.consequence(decision, now)
    if then.pause_seller:
        _pause_seller(job, decision)
    if then.action == "skip":
        # The exact text that would have been sent, recorded in the same transaction as the skip.
        would = {"flag": job.view.settings.extortion_memo_flag} if job.write is MEMO else {"result": "good"}
        record = _write_record(job, verdict, {"would_post": job.task.content, **would})
        return _finish(job, Event.SKIP, verdict, counter="skipped_dry_run", audit=record)
    if then.action == "fail":
        kind = {REVIEW: "content_rejected", EXPLANATION: "explanation_rejected"}.get(job.write, "memo_rejected")
        alert(job.seller_id, kind, decision.reason, now=now, once_key=f"lint:{job.tid}")
        record = _write_record(job, verdict, {"reason": decision.reason})
        return _finish(job, Event.FAIL, f"lint: {decision.reason}", counter="failed", audit=record)
    reason = "kill_switch" if verdict == "blocked" else verdict
    return _retry(job, reason, then.due_at, spend_attempt=then.spend_attempt)


def _pause_seller(job: _Job, decision: guard.GuardDecision) -> None:
    """The breaker opened (too many of the hour's writes failed): the seller's kill switch goes on until an
    operator resumes it."""
    control.set_kill_seller(job.seller_id, True, now=job.now)
    audit.append(
        job.seller_id,
        actor="guard",
        action="seller.pause",
        target=job.tid,
        result=decision.verdict,
        detail={"reason": decision.reason},
        now=job.now,
    )
    alert(
        job.seller_id,
        "seller_paused",
        f"Writes paused: {decision.reason}. An operator must resume them.",
        now=job.now,
        detail={"verdict": decision.verdict, "reason": decision.reason},
        once_key=f"paused:{job.seller_id}:{_hour_bucket(job.now)}",
    )
    logger.warning("seller paused by the write guard", extra={"seller_id": job.seller_id, "verdict": decision.verdict})


def _post(job: _Job) -> Outcome:
    rules = rules_in_force()
    now = job.now
    seller_tokens = _session(job)
    if seller_tokens is None:
        _unreserve(job)
        return _hold(job, "reauth")
    try:
        response = _send(job, seller_tokens)
    except mkt.Throttled as exc:
        _unreserve(job)
        ban = timedelta(seconds=exc.ban_seconds or 60)
        control.pause_until(now + ban, now=now)
        _audit_write(job, "throttled")
        return _retry(job, "throttled", now + ban, spend_attempt=False)
    except mkt.SessionInvalid:
        _unreserve(job)
        _audit_write(job, "session_invalid")
        _mark_reauth(job)
        return _hold(job, "reauth")
    except mkt.PermissionDenied as exc:
        _unreserve(job, failed=True)
        _audit_write(job, "permission_denied")
        alert(job.seller_id, "permission_denied", str(exc), now=now, once_key=f"perm:{job.seller_id}:{_day(now)}")
        return _finish(job, Event.FAIL, "permission_denied", counter="failed", add_attempt=True)
    except mkt.TradeNotFinished:
        _unreserve(job)
        _audit_write(job, "trade_not_finished")
        due = timing.retry_due_at(now, int(job.task.attempts or 0) + 1, rules, random.random())
        return _retry(job, "trade_not_finished", due, spend_attempt=True)
    except mkt.BusinessError as exc:
        return _refused(job, seller_tokens, exc)
    except mkt.MarketplaceError as exc:  # Transient, after the client's own bounded retries
        _unreserve(job, failed=True)
        _audit_write(job, "transient")
        logger.warning("marketplace transient", extra={"seller_id": job.seller_id, "tid": job.tid, "code": exc.code})
        due = timing.retry_due_at(now, int(job.task.attempts or 0) + 1, rules, random.random())
        return _retry(job, "transient", due, spend_attempt=True)
    job.sent, job.reserved = True, False  # the slot became a write
    return _record(job, None, response)


def _refused(job: _Job, session: str, exc: mkt.BusinessError) -> Outcome:
    """A business refusal of the write. A review is read back first (``taobao.traderates.get`` for its tid): the
    sub_codes for "already rated" and "window closed" are not published, so the marketplace's record decides.
    Our review is there: posted (a crash after an accepted post, or a refusal that was a success). Otherwise the
    refusal's classified meaning stands: the window is over (expired), or it failed.
    """
    rules = rules_in_force()
    if job.write is REVIEW:
        try:
            found = top_client().rating_given(session, int(job.tid), _oid(job.task))
        except mkt.MarketplaceError as read_failed:
            # Not knowing whether the review exists, it is neither failed nor posted again blindly: later.
            _unreserve(job)
            logger.warning("rating read-back failed", extra={"tid": job.tid, "error": type(read_failed).__name__})
            due = timing.retry_due_at(job.now, int(job.task.attempts or 0) + 1, rules, random.random())
            return _retry(job, "read_back_failed", due, spend_attempt=True)
        count("ReviewReadBack")
        if found is not None:
            return _record(job, "already_rated", {"code": exc.sub_code, "read_back": True})
    if isinstance(exc, mkt.AlreadyRated):
        # An explanation's refusal as already made, or a review the read-back could not see: the code says done.
        return _record(job, "already_rated", {"code": exc.sub_code})
    if isinstance(exc, mkt.RateWindowClosed):
        _unreserve(job)
        _audit_write(job, "window_closed")
        return _finish(job, Event.EXPIRE, "window_closed", counter="expired")
    _unreserve(job, failed=True)
    _audit_write(job, exc.sub_code or "business_error")
    return _finish(job, Event.FAIL, exc.sub_code or "business_error", counter="failed", add_attempt=True)


def _oid(task: Task) -> int | None:
    # ASCII digits only: "²³" passes ``str.isdigit`` and then fails ``int``.
    return int(task.oid) if task.oid and task.oid.isascii() and task.oid.isdigit() else None


def _send(job: _Job, session: str) -> dict:
    """Send the task's write; what the marketplace answered, for the task's record."""
    task, client = job.task, top_client()
    if job.write is MEMO:
        flag = job.view.settings.extortion_memo_flag
        done = client.trade_memo_update(session, int(tasks.trade_tid(job.tid)), memo=task.content or "", flag=flag)
        return {"modified": done.modified.isoformat() if done.modified else None}
    if job.write is EXPLANATION:
        client.traderate_explain_add(session, task.oid, task.content or "")
        return {}
    added = client.traderate_add(
        session, job.tid, oid=task.oid, result="good", role="seller", content=task.content or ""
    )
    return {"created": added.created.isoformat() if added.created else None}


def _record(job: _Job, reason: str | None, response: dict) -> Outcome:
    # The audit entry first, then the task: two plain writes (3 write units with the due entry's removal) where
    # a transaction would bill double (5). A crash between them leaves the entry and a claimed task; whoever
    # meets the task next finds the review already posted and records that too, so an entry may come before
    # its record but never goes missing.
    detail = {"chars": len(job.task.content or "")} | ({"result": "good"} if job.write is REVIEW else {})
    audit.append(
        job.seller_id,
        actor="worker",
        action=job.write.action,
        target=job.tid,
        result=reason or "posted",
        detail=detail,
        now=job.now,
    )
    outcome = _finish(
        job,
        Event.POST,
        reason,
        fields={"response": {**response, "posted_at": int(job.now.timestamp())}},
    )
    what = "review posted" if job.write is REVIEW else "explanation posted"
    logger.info(what, extra={"seller_id": job.seller_id, "tid": job.tid, "reason": reason})
    return outcome


def _write_record(job: _Job, result: str, detail: dict | None) -> Audit:
    return audit.new_record(
        job.seller_id,
        actor="worker",
        action=job.write.action,
        target=job.tid,
        result=result,
        detail=detail,
        now=job.now,
    )


def _audit_write(job: _Job, result: str) -> None:
    audit.append(
        job.seller_id,
        actor="worker",
        action=job.write.action,
        target=job.tid,
        result=result,
        detail=None,
        now=job.now,
    )


def _unreserve(job: _Job, *, failed: bool = False) -> None:
    # The reservation did not become a write; a failed write feeds the seller's circuit breaker instead.
    counters = {job.write.counter: -1} | ({"write_failures": 1} if failed else {})
    stats.bump(job.seller_id, _hour_bucket(job.now), counters, now=job.now)
    job.reserved = False


def _mark_reauth(job: _Job) -> None:
    from chalicelib.services.sellers.seller_tokens import mark_reauth

    mark_reauth(job.seller_id, now=job.now)


def _session(job: _Job) -> str | None:
    from chalicelib.services.sellers.seller_tokens import access_token

    return access_token(job.view.seller, now=job.now)

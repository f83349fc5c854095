"""Use case: a due task is claimed, checked, passed through the write guard, posted once, and recorded."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from chalicelib.container import get_settings
from chalicelib.domain import guard, timing
from chalicelib.domain.lint import lint
from chalicelib.domain.market_time import MARKET_TZ, market_date
from chalicelib.domain.task_state import Event
from chalicelib.marketplace import errors as mkt
from chalicelib.services import runtime
from chalicelib.services.alerts import alert
from chalicelib.services.seller_state import SellerView, view_of
from chalicelib.store import audit, blacklist, control, sellers, stats, tasks
from chalicelib.store.models import Audit, Task
from chalicelib.telemetry import count, logger

# While a kill switch is on, claimed tasks come back this much later (no attempt is spent).
KILL_RETRY = timedelta(minutes=10)


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

    @property
    def seller_id(self) -> str:
        return self.task.seller_id

    @property
    def tid(self) -> str:
        return self.task.tid

    @property
    def trade_end(self) -> datetime:
        return datetime.fromtimestamp(self.task.trade_end, UTC)


def _day(now: datetime) -> str:
    return market_date(now).isoformat()


def _hour_bucket(now: datetime) -> str:
    return stats.hour_bucket(_day(now), now.astimezone(MARKET_TZ).hour)


def _finish(job: _Job, event: Event, reason: str | None, *, counter: str | None = None, **kw) -> Outcome:
    done = tasks.transition(job.seller_id, job.tid, event, now=job.now, shards=job.shards, reason=reason, **kw)
    if done is None:
        return Outcome("lost_claim", reason)
    if counter:
        stats.bump(job.seller_id, stats.day_bucket(_day(job.now)), {counter: 1}, now=job.now)
    count(f"Review{event.value.capitalize()}")
    return Outcome(event.value, reason)


def _retry(job: _Job, reason: str, due_at: datetime, *, spend_attempt: bool) -> Outcome:
    rules = runtime.rules()
    if spend_attempt and timing.retries_exhausted(int(job.task.attempts or 0) + 1, rules):
        alert(job.seller_id, "review_failed", f"trade {job.tid}: {reason}", now=job.now, once_key=f"failed:{job.tid}")
        return _finish(job, Event.FAIL, f"{reason}_exhausted", counter="failed", add_attempt=True)
    closes = timing.window_closes_at(job.trade_end, rules)
    due_at = min(due_at, closes - timedelta(minutes=1))
    return _finish(job, Event.RETRY_LATER, reason, due_at=due_at, add_attempt=spend_attempt)


def _hold(job: _Job, hold: str) -> Outcome:
    held = tasks.add_hold(job.seller_id, job.tid, hold, now=job.now)
    count("ReviewHeld")
    return Outcome("held" if held else "lost_claim", hold)


def process_job(seller_id: str, tid: str, *, now: datetime) -> Outcome:
    """Run one review job from the queue; safe to run any number of times for the same task."""
    rules = runtime.rules()
    shards = get_settings().due_shards
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
        count("ReviewNotDue")
        return Outcome("not_due")
    seller = sellers.cached(seller_id)
    if seller is None:
        return _finish(_Job(claimed, None, now, shards), Event.SKIP, "disabled", counter="skipped_disabled")
    job = _Job(claimed, view_of(seller), now, shards)
    return _decide_and_post(job)


def _decide_and_post(job: _Job) -> Outcome:
    rules = runtime.rules()
    task, view, now = job.task, job.view, job.now
    if timing.is_window_closed(now, job.trade_end, rules):
        return _finish(job, Event.EXPIRE, "window_closed", counter="expired")
    hashes = blacklist.hashes(job.seller_id)
    if (task.buyer_hash and task.buyer_hash in hashes) or (task.buyer_uid_hash and task.buyer_uid_hash in hashes):
        return _finish(job, Event.SKIP, "blacklisted", counter="skipped_blacklisted")
    if task.buyer_rating in ("neutral", "bad") and view.settings.on_buyer_neutral_or_bad == "skip":
        return _finish(job, Event.SKIP, "buyer_bad_rating", counter="skipped_buyer_bad_rating")
    if not view.entitled(now):
        return _hold(job, "plan_expired")
    if view.seller.status == "reauth":
        return _hold(job, "reauth")
    inputs = _guard_inputs(job, control.read_switches())
    verdict = guard.decide(inputs, rules)
    if verdict.verdict == "allow":
        # Reserve this post in the seller's hour counter: the returned count is the rate cap's evidence.
        hour = stats.bump(job.seller_id, _hour_bucket(now), {"posts": 1}, now=now)
        posts, failures = hour["posts"] - 1, hour["write_failures"]
        counted = replace(inputs, posts_last_hour=posts, recent_attempts=posts + failures, recent_failures=failures)
        verdict = guard.decide(counted, rules)
        if verdict.verdict != "allow":
            stats.bump(job.seller_id, _hour_bucket(now), {"posts": -1}, now=now)
    if verdict.verdict != "allow":
        return _blocked(job, verdict)
    return _post(job)


def _guard_inputs(job: _Job, switches: control.Switches) -> guard.GuardInput:
    """What the guard judges, before the hour's counts are known (they are filled in after the reservation)."""
    dry_run = get_settings().stage_dry_run or job.view.settings.dry_run or job.seller_id in switches.dry_run_sellers
    return guard.GuardInput(
        kill_global=switches.kill_global,
        kill_seller=job.seller_id in switches.kill_sellers,
        dry_run=dry_run,
        lint_problems=tuple(lint(job.task.content or "", runtime.rules())),
        posts_last_hour=0,
        hourly_cap=job.view.hourly_cap(),
        recent_attempts=0,
        recent_failures=0,
    )


def _blocked(job: _Job, decision: guard.GuardDecision) -> Outcome:
    now = job.now
    verdict = decision.verdict
    if verdict == "dry_run":
        # The exact text that would have been posted, recorded in the same transaction as the skip.
        record = _write_record(job, "dry_run", {"would_post": job.task.content, "result": "good"})
        return _finish(job, Event.SKIP, "dry_run", counter="skipped_dry_run", audit=record)
    if verdict == "lint_failed":
        alert(job.seller_id, "content_rejected", decision.reason, now=now, once_key=f"lint:{job.tid}")
        record = _write_record(job, "lint_failed", {"reason": decision.reason})
        return _finish(job, Event.FAIL, f"lint: {decision.reason}", counter="failed", audit=record)
    if verdict == "blocked":
        return _retry(job, "kill_switch", now + KILL_RETRY, spend_attempt=False)
    if decision.pause_seller or verdict == "capped":
        _pause_seller(job, decision)
    next_hour = now.astimezone(MARKET_TZ).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return _retry(job, verdict, next_hour.astimezone(UTC), spend_attempt=False)


def _pause_seller(job: _Job, decision: guard.GuardDecision) -> None:
    """Over its hourly cap or failing too often: the seller's kill switch goes on until an operator resumes it."""
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
        f"Reviews paused: {decision.reason}. An operator must resume them.",
        now=job.now,
        detail={"verdict": decision.verdict, "reason": decision.reason},
        once_key=f"paused:{job.seller_id}:{_hour_bucket(job.now)}",
    )
    logger.warning("seller paused by the write guard", extra={"seller_id": job.seller_id, "verdict": decision.verdict})


def _post(job: _Job) -> Outcome:
    rules = runtime.rules()
    now = job.now
    seller_tokens = _session(job)
    if seller_tokens is None:
        _unreserve(job)
        return _hold(job, "reauth")
    content = job.task.content or ""
    try:
        added = runtime.top_client().traderate_add(
            seller_tokens, job.tid, oid=job.task.oid, result="good", role="seller", content=content
        )
    except mkt.AlreadyRated as exc:
        # Settles a crash between an accepted post and its record: the review exists, so the task is done.
        return _record(job, "already_rated", {"code": exc.sub_code})
    except mkt.RateWindowClosed:
        _unreserve(job)
        _audit_write(job, "window_closed")
        return _finish(job, Event.EXPIRE, "window_closed", counter="expired")
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
        _unreserve(job, failed=True)
        _audit_write(job, exc.sub_code or "business_error")
        return _finish(job, Event.FAIL, exc.sub_code or "business_error", counter="failed", add_attempt=True)
    except mkt.MarketplaceError as exc:  # Transient, after the client's own bounded retries
        _unreserve(job, failed=True)
        _audit_write(job, "transient")
        logger.warning("marketplace transient", extra={"seller_id": job.seller_id, "tid": job.tid, "code": exc.code})
        due = timing.retry_due_at(now, int(job.task.attempts or 0) + 1, rules, random.random())
        return _retry(job, "transient", due, spend_attempt=True)
    return _record(job, None, {"created": added.created.isoformat() if added.created else None})


def _record(job: _Job, reason: str | None, response: dict) -> Outcome:
    record = audit.new_record(
        job.seller_id,
        actor="worker",
        action="taobao.traderate.add",
        target=job.tid,
        result=reason or "posted",
        detail={"result": "good", "chars": len(job.task.content or "")},
        now=job.now,
    )
    outcome = _finish(
        job,
        Event.POST,
        reason,
        fields={"response": {**response, "posted_at": int(job.now.timestamp())}},
        audit=record,
    )
    logger.info("review posted", extra={"seller_id": job.seller_id, "tid": job.tid, "reason": reason})
    return outcome


def _write_record(job: _Job, result: str, detail: dict | None) -> Audit:
    return audit.new_record(
        job.seller_id,
        actor="worker",
        action="taobao.traderate.add",
        target=job.tid,
        result=result,
        detail=detail,
        now=job.now,
    )


def _audit_write(job: _Job, result: str) -> None:
    audit.append(
        job.seller_id,
        actor="worker",
        action="taobao.traderate.add",
        target=job.tid,
        result=result,
        detail=None,
        now=job.now,
    )


def _unreserve(job: _Job, *, failed: bool = False) -> None:
    # The reservation did not become a post; a failed write feeds the seller's circuit breaker instead.
    counters = {"posts": -1, "write_failures": 1} if failed else {"posts": -1}
    stats.bump(job.seller_id, _hour_bucket(job.now), counters, now=job.now)


def _mark_reauth(job: _Job) -> None:
    from chalicelib.services.seller_tokens import mark_reauth

    mark_reauth(job.seller_id, now=job.now)


def _session(job: _Job) -> str | None:
    from chalicelib.services.seller_tokens import access_token

    return access_token(job.view.seller, now=job.now)

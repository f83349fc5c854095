"""Use case: the daily billing pass: recover lost orders, remind before expiry, hold the work of lapsed sellers,
and erase a seller's data once the grace period after its last paid day is over.

Only sellers whose entitlement is about to matter are looked at: the run's candidates come from the
``billing_due`` index (``billing_at`` at or before the run), fanned out through the billing queue
(``services.jobs.seller_jobs``). A seller's ``billing_at`` says when it needs the pass next: every settle that
changes its entitlement makes it due at the next pass, and each pass moves it on (``next_check_at``) — to
the next pass while the seller is unpaid, lapsed or entitled only lately, else to when its paid period comes
within the longest reminder. Before anything is held or purged the market is asked
(``reconcile_billing.check_seller``), so a lost renewal never stops or erases a paying seller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.container import container
from chalicelib.domain import timing
from chalicelib.domain.entitlement import Entitlement, reminders_due
from chalicelib.domain.market_time import format_market_time
from chalicelib.domain.rules import Rules
from chalicelib.marketplace.errors import MarketplaceError
from chalicelib.services.alerts.alerts import alert
from chalicelib.services.billing import reconcile_billing
from chalicelib.services.billing.apply_billing_order import PLAN_EXPIRED, current_entitlement, settle
from chalicelib.services.jobs import seller_jobs
from chalicelib.services.jobs.seller_jobs import Run, SellerJob
from chalicelib.services.onboarding.message_permits import cancel_messages
from chalicelib.services.reviews.holds import release_seller_holds
from chalicelib.services.rules import rules_in_force
from chalicelib.store import audit, erasure, seller_writes, sellers, tasks
from chalicelib.store.idempotency import run_once
from chalicelib.store.models import Seller
from chalicelib.telemetry import count, logger

# Workers may act on a cached seller for a minute after a renewal and hold a task again; the holds of a
# seller entitled again this recently are lifted once more by the next passes.
RECHECK_RESUMED = timedelta(days=2)


@dataclass
class DailyResult:
    """What the pass did for a seller (a run's totals are these summed over its sellers)."""

    attended: int = 0
    recovered: int = 0
    disagreements: int = 0
    reminders: int = 0
    held: int = 0
    released: int = 0
    expired: int = 0
    purged: int = 0

    def as_dict(self) -> dict[str, int]:
        """The non-zero counts."""
        return {key: value for key, value in asdict(self).items() if value}


def _horizon(rules: Rules) -> timedelta:
    return timedelta(days=max(rules.billing.reminder_days, default=0) + 1)


def needs_attention(seller: Seller, now: datetime, rules: Rules) -> bool:
    """True when the seller's entitlement may need an action today."""
    if seller.status == "purged":
        return False
    if not seller.paid_until or seller.paid_until <= (now + _horizon(rules)).timestamp():
        return True
    return seller.status == "lapsed" or _recently_entitled(seller, now)


def next_check_at(seller: Seller, run: Run, rules: Rules) -> int:
    """When the pass must look at the seller again: the next pass while it needs attention, else when its
    paid period comes within the longest reminder (just after this run's time, so this run never sees it
    again)."""
    next_pass = int(run.at.timestamp()) + 1
    if seller.status == "purged" or needs_attention(seller, run.at, rules):
        return next_pass
    return max(next_pass, int(seller.paid_until - _horizon(rules).total_seconds()))


def start(*, now: datetime, run: Run) -> dict:
    """The schedule: recover the orders the market sold lately (one search for all sellers), then start the
    run over the sellers due; returns what it started."""
    recovered = 0
    try:
        recovered = reconcile_billing.recover_recent(now=now).recovered
    except MarketplaceError as exc:
        count("BillingReconcileFailed")
        logger.warning("billing order search failed", extra={"code": exc.code})
    plans = seller_jobs.start(JOB, run)
    return {"run": run.id, "plans": plans, "recovered": recovered}


def serve(seller_id: str, run: Run, now: datetime) -> dict[str, int]:
    """One seller's daily pass, then the time of its next one; returns what it did."""
    result = DailyResult()
    untouched = attend(seller_id, now=now, result=result)
    rules = rules_in_force()

    # Most sellers need nothing today: the copy read to decide that is still the stored one.
    seller = untouched if untouched is not None else sellers.get(seller_id)
    if seller is not None and seller.status != "purged":
        due = next_check_at(seller, run, rules)
        if seller.billing_at != due:
            seller_writes.set_billing_at(seller_id, due, now=now)
    count("BillingReminders", result.reminders)
    count("SellersPurged", result.purged)
    return result.as_dict()


JOB = SellerJob(
    name="billing",
    index="billing_due",
    queue_url=lambda: container().settings.billing_queue_url,
    serve=serve,
    upto=lambda run: int(run.at.timestamp()),
)


def attend(seller_id: str, *, now: datetime, result: DailyResult) -> Seller | None:
    """Reconcile, settle, remind, expire and purge for one seller, as far as its entitlement calls for.

    Returns the seller as read when it needed nothing (nothing was written), else None.
    """
    seller = sellers.get(seller_id)
    rules = rules_in_force()
    if seller is None or not needs_attention(seller, now, rules):
        return seller
    result.attended += 1
    agreed = _check(seller, now, result)
    settled = settle(seller_id, now=now)
    if settled is None:
        return
    result.held += settled.held
    result.released += settled.released
    ent = settled.entitlement
    if ent.active:
        result.reminders += remind(seller_id, ent, now=now, rules=rules)
        if not settled.became_entitled and _recently_entitled(seller, now):
            result.released += release_seller_holds(seller_id, PLAN_EXPIRED, now=now)
        return
    result.expired += expire_closed_holds(seller_id, now=now, rules=rules)
    # Erasing needs the market's word that no paid period is coming: without it, or against it, nothing is erased.
    if agreed and purge_due(seller, ent, now=now, rules=rules):
        purge(seller_id, ent, now=now, rules=rules)
        result.purged += 1


def _check(seller: Seller, now: datetime, result: DailyResult) -> bool:
    """Ask the market about the seller (recovering what it can); True when the market agrees with us."""
    ent = current_entitlement(seller.seller_id, seller.nick, now=now)
    try:
        check = reconcile_billing.check_seller(seller.seller_id, seller.nick, ent, now=now)
    except MarketplaceError as exc:
        count("BillingCheckFailed")
        logger.warning("subscription check failed", extra={"seller_id": seller.seller_id, "code": exc.code})
        return False
    result.recovered += check.recovered
    result.disagreements += 0 if check.agreed else 1
    return check.agreed


def _recently_entitled(seller: Seller, now: datetime) -> bool:
    return bool(seller.entitled_since) and seller.entitled_since >= (now - RECHECK_RESUMED).timestamp()


def _sent_for(seller: Seller, paid_until: int) -> set[int]:
    prefix = f"{paid_until}:"
    return {int(key[len(prefix) :]) for key in seller.reminders_sent or () if key.startswith(prefix)}


def remind(seller_id: str, ent: Entitlement, *, now: datetime, rules: Rules) -> int:
    """Send the expiry reminder due now, if any, once per threshold and ``paid_until``; returns how many."""
    if ent.paid_until is None:
        return 0
    paid_until = int(ent.paid_until.timestamp())
    seller = sellers.get(seller_id)
    if seller is None:
        return 0
    due = reminders_due(ent, now, rules.billing.reminder_days, _sent_for(seller, paid_until))
    for days in due:
        ends = format_market_time(ent.paid_until)
        alert(
            seller_id,
            "plan_expiring",
            f"Your subscription ends on {ends} (in {days} day{'s' if days > 1 else ''}); "
            "renew it to keep reviews going.",
            now=now,
            detail={"days": days, "paid_until": ends, "plan": ent.plan},
            once_key=f"plan_expiring:{seller_id}:{paid_until}:{days}",
        )

        # Only this paid_until's marks are kept: a renewal starts a fresh set.
        stale = {key for key in seller.reminders_sent or () if not key.startswith(f"{paid_until}:")}
        seller_writes.add_reminder(seller_id, f"{paid_until}:{days}", stale=stale, now=now)
    return len(due)


def expire_closed_holds(seller_id: str, *, now: datetime, rules: Rules) -> int:
    """Expire tasks held for ``plan_expired`` whose rating window closed: no renewal can save them now."""
    expired = 0
    for task in tasks.held_tasks(seller_id):
        closed = timing.is_window_closed(now, tasks.trade_end_of(task), rules)
        if closed and PLAN_EXPIRED in (task.holds or set()) and tasks.expire_held(seller_id, task.tid, now=now):
            expired += 1
    count("ExpiredWhileLapsed", expired)
    return expired


def purge_due(seller: Seller, ent: Entitlement, *, now: datetime, rules: Rules) -> bool:
    """True once the grace period has passed since the last paid day (since authorization, if never paid)."""
    if ent.active or seller.status == "purged":
        return False
    base = ent.latest_end or datetime.fromtimestamp(seller.created_at, UTC)
    return base + timedelta(days=rules.billing.grace_days) <= now


def purge(seller_id: str, ent: Entitlement, *, now: datetime, rules: Rules) -> None:
    """Erase the seller's tasks, blacklist and tokens, mark it ``purged`` and audit what was erased.

    Safe to repeat: a pass that stopped midway finds the seller not yet purged and erases the rest. The
    seller's messages are cancelled first (``taobao.tmc.user.cancel``): when the marketplace cannot do it now,
    ``CancelDeferred`` leaves the seller for the next pass.
    """
    seller = sellers.get(seller_id)
    if seller is not None:
        cancel_messages(seller_id, seller.nick, now=now)
    deleted_tasks = erasure.delete_tasks(seller_id)
    deleted_blacklist = erasure.delete_blacklist(seller_id)

    def record() -> dict:
        audit.append(
            seller_id,
            actor="billing",
            action="seller.purge",
            target=None,
            result="purged",
            detail={
                "tasks": deleted_tasks,
                "blacklist": deleted_blacklist,
                "tokens": True,
                "last_paid_day": format_market_time(ent.latest_end) if ent.latest_end else None,
                "grace_days": rules.billing.grace_days,
            },
            now=now,
        )
        return {}

    # The audit entry before the status: a pass that times out after ``purged`` is written is never run again,
    # so the entry must already be there; keyed on the paid period, a pass that stopped before repeats none.
    last_paid = int(ent.latest_end.timestamp()) if ent.latest_end else 0
    run_once("purge_audit", {"seller_id": seller_id, "last_paid": last_paid}, record)
    seller_writes.erase(seller_id, now=now)
    logger.info("seller data purged", extra={"seller_id": seller_id, "tasks": deleted_tasks})

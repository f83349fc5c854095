"""Use case: read the seller's refunds from the marketplace (``taobao.refunds.receive.get``), so a refund whose push was
lost still holds or skips its trade's review.

Each refund found is applied exactly as its pushed message would have been (``handle_refund.on_refund``: a later
lifecycle step wins, a refund ahead of its trade leaves a placeholder), so reading one twice changes nothing. The
seller's ``refunds_synced_at`` says how far the refunds were read; the next read starts there (a minute earlier,
for clocks and late writes on the marketplace's side).

Two callers: the daily reconcile reads its window, and the review worker reads the refunds modified since the last
read before it posts a review of a trade that ended a while ago (``refunds_stale``), so a lost refund push costs
nothing even between two reconciles; reads are at most one per seller per ``REFUND_SYNC_MAX_AGE``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from chalicelib.container import container
from chalicelib.marketplace.models import Refund, fen_to_yuan
from chalicelib.marketplace.topics import RefundEvent
from chalicelib.services.reviews.handle_refund import on_refund
from chalicelib.services.rules import rules_in_force
from chalicelib.services.top_client import top_client
from chalicelib.store import seller_marks, sellers
from chalicelib.store.models import Seller
from chalicelib.telemetry import count, logger

# A seller's refunds are read at most this often before its posts; a refund created since the last read, whose
# push was lost, is the only one a post may miss (the push path and the daily reconcile see the rest).
REFUND_SYNC_MAX_AGE = timedelta(minutes=10)
# Refunds of a trade that ended less than this long ago cannot have been missed yet: the post goes without a read.
FRESH_TRADE = timedelta(minutes=10)
OVERLAP = timedelta(minutes=1)


def refunds_stale(seller: Seller, trade_end: datetime, *, now: datetime) -> bool:
    """True when a post for a trade that ended at ``trade_end`` should read the seller's refunds first."""
    if trade_end > now - FRESH_TRADE:
        return False
    synced = seller.refunds_synced_at
    return not synced or datetime.fromtimestamp(synced, UTC) < now - REFUND_SYNC_MAX_AGE


def sync_if_stale(seller: Seller, session: str, *, trade_end: datetime, now: datetime) -> bool:
    """Before a post: read the seller's refunds when ``refunds_stale`` says so, one thread of the container at a
    time (a second one finds the watermark fresh and reads nothing); True when a read ran."""
    if not refunds_stale(seller, trade_end, now=now):
        return False
    # The worker handles a batch's records on several threads: one of them reads a seller's refunds, the others wait.
    with container().lock(("refund_sync", seller.seller_id)):
        current = sellers.get(seller.seller_id)  # the watermark as stored, not as cached
        if current is None or not refunds_stale(current, trade_end, now=now):
            return False
        sync_refunds(current, session, now=now)
        return True


def sync_refunds(seller: Seller, session: str, *, now: datetime, since: datetime | None = None) -> int:
    """Apply the refunds modified from ``since`` (default: the last read, at most a rating window back) to ``now``;
    returns how many changed a task. Marketplace errors propagate to the caller's policy."""
    oldest = now - timedelta(days=rules_in_force().rating_window_days)
    if since is None:
        synced = seller.refunds_synced_at
        since = datetime.fromtimestamp(synced, UTC) - OVERLAP if synced else oldest
    since = max(since, oldest)
    applied = 0
    for refund in top_client().refunds_receive_get(session, since, now):
        if _apply(seller.seller_id, refund, now=now):
            applied += 1
    seller_marks.advance_refunds_synced(seller.seller_id, now, now=now)
    count("RefundsSynced")
    if applied:
        count("RefundsApplied", applied)
        logger.info("refunds applied from the marketplace", extra={"seller_id": seller.seller_id, "applied": applied})
    return applied


def _apply(seller_id: str, refund: Refund, *, now: datetime) -> bool:
    try:
        event = RefundEvent(
            tid=str(refund.tid),
            oid=None if refund.oid is None else str(refund.oid),
            refund_id=refund.refund_id,
            refund_fee=fen_to_yuan(refund.refund_fee),
            refund_phase=refund.refund_phase or None,
        )
    except ValidationError:
        count("RefundUnreadable")
        return False
    return on_refund(seller_id, refund.lifecycle, event, now=now) == "ok"

"""Use case: what follows a seller's authorization: open its messages to the app, and review what it sold before.

Runs after ``onboard_seller.onboard`` in the OAuth callback, which calls no marketplace write: the permit is queued
(``message_permits.queue_permit``; its failure is retried later); the backfill (``backfill``) is started for a new
seller, a returning one (after a purge, or a lapse of authorization during which no trade could be read), or one
whose backfill never finished, and runs in the background: the callback answers in the time of one marketplace call
(the code exchange). Neither can fail the authorization itself: the seller is onboarded by then.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.services.onboarding.backfill import start_backfill
from chalicelib.services.onboarding.message_permits import queue_permit
from chalicelib.store import sellers
from chalicelib.telemetry import count, logger

# The states after which the seller's recent trades may be unknown to the app.
_RETURNING = frozenset({"purged", "reauth"})


def after_authorization(seller_id: str, *, previous_status: str | None, now: datetime) -> None:
    """Queue the permit of the seller's messages and, when its recent trades may be unknown, start the backfill."""
    try:
        queue_permit(seller_id)
    except Exception:
        # The seller is authorized by now; the daily reconcile asks for a permit that was never queued.
        count("MessagePermitNotQueued")
        logger.exception("message permit not queued", extra={"seller_id": seller_id})
    seller = sellers.get(seller_id)
    if seller is None:
        return
    finished = (seller.backfill or {}).get("state") == "done"
    if previous_status is not None and previous_status not in _RETURNING and finished:
        return
    try:
        start_backfill(seller_id, now=now)
    except Exception:
        count("BackfillNotStarted")
        logger.exception("backfill not started", extra={"seller_id": seller_id})

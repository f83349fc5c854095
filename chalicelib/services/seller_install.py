"""Use case: what follows a seller's authorization: open its messages to the app, and review what it sold before.

Runs after ``onboard_seller.onboard`` in the OAuth callback. The permit is asked for at once (its failure is
retried later, see ``message_permits``); the backfill (``backfill``) is started for a new seller, a returning one
(after a purge, or a lapse of authorization during which no trade could be read), or one whose backfill never
finished, and runs in the background: the callback answers in the time of one marketplace call. Neither can fail
the authorization itself: the seller is onboarded by then.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.services.backfill import start_backfill
from chalicelib.services.message_permits import permit_messages
from chalicelib.store import sellers
from chalicelib.telemetry import count, logger

# The states after which the seller's recent trades may be unknown to the app.
_RETURNING = frozenset({"purged", "reauth"})


def after_authorization(seller_id: str, *, previous_status: str | None, now: datetime) -> None:
    """Permit the seller's messages and, when its recent trades may be unknown, start the backfill."""
    permit_messages(seller_id, now=now)
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

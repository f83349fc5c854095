"""Use case (hourly): refresh sellers' marketplace tokens before they expire.

Only sellers whose tokens need it are touched: the run's candidates come from the ``token_due`` index
(tokens expiring within ``REFRESH_MARGIN`` of the run), fanned out through the tokens queue
(``services.jobs.seller_jobs``). A seller whose token cannot be refreshed any more (the platform granted none, it
expired, or the marketplace refuses to refresh it) is marked ``reauth``, which takes it out of the index:
its open tasks are held (``reauth``) and it is asked to authorize again; authorizing again
(``onboard_seller``) releases them. A refresh that fails on the marketplace's side stays due and is tried again
next hour, and one seller's failure never stops the others.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.container import container
from chalicelib.marketplace.errors import GrantRefused, MarketplaceError, PermissionDenied, RequestRejected
from chalicelib.services.jobs.seller_jobs import Run, SellerJob
from chalicelib.services.reviews.holds import hold_seller_tasks, release_seller_holds
from chalicelib.services.sellers.seller_tokens import mark_reauth, needs_refresh, refresh_token, sealed
from chalicelib.services.top_client import top_client
from chalicelib.store import audit, seller_writes, sellers
from chalicelib.store.idempotency import run_once
from chalicelib.telemetry import count, logger

# Three hourly runs see a token before it expires, so one failed hour (or two) costs nothing.
REFRESH_MARGIN = timedelta(hours=3)
ACTION = "oauth.refresh"
ACTOR = "tokens_job"
# Sellers the job leaves alone: re-authorizing is theirs to do, and purged ones are gone.
_SKIPPED_STATUSES = frozenset({"reauth", "purged"})
# The audit's reason when the platform refuses to refresh the grant (revoked, expired, spent).
_DEAD_GRANT = "invalid_grant"


def _serve(seller_id: str, run: Run, now: datetime) -> dict[str, int]:
    outcome = refresh_seller(seller_id, now=now)
    count(f"TokenRefresh_{outcome}")
    return {outcome: 1}


JOB = SellerJob(
    name="tokens",
    index="token_due",
    queue_url=lambda: container().settings.tokens_queue_url,
    serve=_serve,
    upto=lambda run: int((run.at + REFRESH_MARGIN).timestamp()),
)


def refresh_seller(seller_id: str, *, now: datetime, margin: timedelta = REFRESH_MARGIN) -> str:
    """Refresh one seller's tokens if they expire within ``margin``; returns the outcome: ``refreshed``,
    ``fresh``, ``skipped``, ``reauth``, ``deferred`` (the marketplace failed: next hour) or ``error``."""
    seller = sellers.get(seller_id)
    if seller is not None and seller.status == "reauth":
        # Out of the index, so only a redelivery of this seller's message gets here: an invocation that timed out
        # after the status was written finishes the rest (each step once) instead of skipping it.
        return _reauth(seller_id, "redelivered", now=now)
    if seller is None or seller.status in _SKIPPED_STATUSES:
        return "skipped"
    if not needs_refresh(seller, now=now, margin=margin):
        return "fresh"
    token = refresh_token(seller, now=now)
    if token is None:
        return _reauth(seller_id, "not_refreshable", now=now)
    try:
        grant = top_client().auth_token_refresh(token)
    except GrantRefused:
        return _reauth(seller_id, _DEAD_GRANT, now=now)
    except (RequestRejected, PermissionDenied) as exc:
        # About our request or our app (key, signature, not a service-market app): not the seller's to fix.
        logger.error("token refresh refused", extra={"seller_id": seller_id, "error": type(exc).__name__})
        return "error"
    except MarketplaceError as exc:
        logger.warning("token refresh deferred", extra={"seller_id": seller_id, "error": type(exc).__name__})
        return "deferred"
    if str(grant.taobao_user_id) != seller_id:
        logger.error("token refresh answered for another user", extra={"seller_id": seller_id})
        return "error"
    had_expired = bool(seller.token_expires_at) and seller.token_expires_at <= now.timestamp()
    # The grant alone is written: a settings or billing change made meanwhile can neither lose it nor be lost.
    if seller_writes.set_tokens(seller_id, sealed(seller_id, grant), now=now) is None:
        return "skipped"  # purged meanwhile
    audit.append(seller_id, actor=ACTOR, action=ACTION, target=None, result="refreshed", detail=None, now=now)
    if had_expired:
        # The worker held tasks it met while the token was expired; they can go again.
        release_seller_holds(seller_id, "reauth", now=now)
    return "refreshed"


def _reauth(seller_id: str, why: str, *, now: datetime) -> str:
    """Mark the seller ``reauth`` and alert it (keyed on the grant), then hold its tasks and record it, once per
    grant: each step survives a timeout after the one before it, and a redelivery repeats none of them."""
    mark_reauth(seller_id, now=now)
    seller = sellers.get(seller_id)
    grant = int(seller.token_expires_at or 0) if seller is not None else 0

    def hold_and_record() -> dict:
        held = hold_seller_tasks(seller_id, "reauth", now=now)
        audit.append(
            seller_id,
            actor=ACTOR,
            action=ACTION,
            target=None,
            result="reauth_needed",
            detail={"why": why, "held_tasks": held},
            now=now,
        )
        logger.info("seller needs to authorize again", extra={"seller_id": seller_id, "why": why, "held": held})
        return {"held": held}

    run_once("reauth_hold", {"seller_id": seller_id, "grant": grant}, hold_and_record)
    return "reauth"

"""Use case: open a seller's marketplace messages to the app, and close them when the seller leaves.

The platform pushes a seller's messages (trades, ratings, refunds) only after the app called
``taobao.tmc.user.permit`` with that seller's session; without it a subscribed seller would get no reviews at all.
The permit names no topics, so the seller gets every topic the app subscribed (naming some would replace that list,
and a topic added to the app later would never reach sellers permitted before).

The permit is a marketplace write, so it never runs inside the OAuth callback: each authorization queues a permit
job (``queue_permit``) on the reconcile queue, whose worker asks for it (``run_permit_job``) moments later.
``messages_permitted`` on the seller says whether the permit went through. A failed permit is never silent: the
seller stays ``False`` and the end of the install backfill and the daily reconcile try again (``ensure_permitted``)
until it does; meanwhile reconciliation still finds the trades. Leaving (the purge after the grace period) calls
``taobao.tmc.user.cancel``, which needs only the nick.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import container
from chalicelib.domain.queue_messages import PermitJob
from chalicelib.marketplace import errors as mkt
from chalicelib.services.sellers.seller_tokens import access_token, mark_reauth
from chalicelib.services.top_client import top_client
from chalicelib.store import audit, control, queues, seller_marks, sellers
from chalicelib.store.models import Seller
from chalicelib.telemetry import count, logger

ACTOR = "messages"


class PermitPaused(RuntimeError):
    """Marketplace calls are paused (a quota ban): the queue delivers the permit job again after it."""


class CancelDeferred(RuntimeError):
    """The marketplace could not cancel the seller's messages now; whoever asked tries again later."""


def permit_messages(seller_id: str, *, now: datetime) -> bool:
    """Ask the marketplace to send the seller's messages; True when it agreed. Failures are logged and counted,
    never raised (the seller stays unpermitted for the retries); an invalid session marks it for re-authorization."""
    return _permit(seller_id, sellers.get(seller_id), now=now)


def _permit(seller_id: str, seller: Seller | None, *, now: datetime) -> bool:
    """``permit_messages`` for a seller its caller has just read.

    Each step is written before the next, so a timeout anywhere leaves no permit call without its audit entry and
    no re-authorization without its alert: the call's audit entry first, then the re-authorization (its alert keyed
    on the grant), then ``messages_permitted`` last. A seller still unpermitted is asked again by the redelivery
    (the platform's permit is idempotent), each call with its own entry; a seller left ``reauth`` without its
    alert gets it, once, from the next attempt.
    """
    session = access_token(seller, now=now) if seller is not None else None
    if session is None:
        if seller is not None and seller.status == "reauth":
            mark_reauth(seller_id, now=now)  # finishes a re-authorization a timeout cut short (the alert is keyed)
        count("MessagePermitNoSession")
        return False
    reauth = False
    try:
        permitted = top_client().tmc_user_permit(session)
    except mkt.SessionInvalid:
        permitted, reauth = False, True
    except mkt.MarketplaceError as exc:
        logger.warning("message permit failed", extra={"seller_id": seller_id, "error": type(exc).__name__})
        permitted = False
    count("MessagePermitted" if permitted else "MessagePermitFailed")
    audit.append(
        seller_id,
        actor=ACTOR,
        action="taobao.tmc.user.permit",
        target=None,
        result="permitted" if permitted else "failed",
        detail=None,
        now=now,
    )
    if reauth:
        mark_reauth(seller_id, now=now)
    seller_marks.set_messages_permitted(seller_id, permitted, now=now)
    return permitted


def queue_permit(seller_id: str) -> None:
    """Queue the permit of the seller's messages (a just-authorized seller's session is fresh)."""
    queues.send_jobs(container().settings.reconcile_queue_url, [PermitJob(seller_id=seller_id).body()])


def run_permit_job(job: PermitJob, *, now: datetime) -> str:
    """Ask for the permit a queued job names (``permitted``, ``failed``, ``gone``). Always asks, even for a seller
    already permitted: an authorization opens the messages again (a lapsed grant may have closed them). Raises
    ``PermitPaused`` during a quota ban, so the job waits in the queue instead of spending the app's quota."""
    seller_id = job.seller_id
    seller = sellers.get(seller_id)
    if seller is None or seller.status == "purged":
        return "gone"
    if control.read_switches(fresh=True).paused(now):
        raise PermitPaused(f"marketplace calls are paused; the permit of {seller_id} goes on later")
    return "permitted" if _permit(seller_id, seller, now=now) else "failed"


def ensure_permitted(seller_id: str, *, now: datetime) -> bool:
    """Permit the seller's messages unless that is already done; True when they are open."""
    seller = sellers.get(seller_id)
    if seller is None or seller.status == "purged":
        return False
    return bool(seller.messages_permitted) or _permit(seller_id, seller, now=now)


def cancel_messages(seller_id: str, nick: str, *, now: datetime) -> None:
    """Stop the seller's messages. A refusal means there was nothing to stop (done); a failure of the marketplace
    raises ``CancelDeferred`` so the caller keeps the seller and tries again on its next pass."""
    try:
        top_client().tmc_user_cancel(nick)
    except (mkt.BusinessError, mkt.SessionInvalid) as exc:
        logger.info("message cancel refused", extra={"seller_id": seller_id, "error": exc.sub_code or exc.code})
    except mkt.MarketplaceError as exc:
        count("MessageCancelDeferred")
        raise CancelDeferred(f"messages of {seller_id} not cancelled: {type(exc).__name__}") from exc
    seller_marks.set_messages_permitted(seller_id, False, now=now)
    count("MessageCancelled")
    audit.append(
        seller_id, actor=ACTOR, action="taobao.tmc.user.cancel", target=None, result="cancelled", detail=None, now=now
    )

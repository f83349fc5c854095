"""Use case: a service-market order arrives (pushed, or found by reconciliation): store it once, then settle
the seller's entitlement and what follows from it.

Entitlement is never edited, only derived: every settle recomputes it from all of the seller's orders and
stores the result on the seller (``paid_until``, ``plan``), where the pipeline reads it from its cached
seller. An order for a nick the app does not know yet is kept under that nick and adopted when the seller
authorizes the app, so a purchase made before authorization (the usual order on the market) is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.container import container
from chalicelib.domain.entitlement import BillingOrder, Entitlement, entitlement, plan_at
from chalicelib.marketplace import topics
from chalicelib.marketplace.billing_topics import BillingOrderInvalid, parse_order
from chalicelib.marketplace.messages import MalformedMessage, Message
from chalicelib.services.reviews.holds import hold_seller_tasks, release_seller_holds
from chalicelib.services.reviews.inbound_messages import MessageResult
from chalicelib.services.rules import rules_in_force
from chalicelib.store import orders, rejected, seller_writes, sellers
from chalicelib.store.models import Seller
from chalicelib.telemetry import count, failure, logger

PLAN_EXPIRED = "plan_expired"
REJECTED_SOURCE = "billing"
ATTEMPTS = 5
_INSTANT = timedelta(microseconds=1)


class SellerKeptChanging(RuntimeError):
    """The seller's billing fields changed under every attempt to update them; the caller retries later."""


@dataclass(frozen=True)
class Settled:
    """A seller's entitlement after a settle, and what the settle did because of it."""

    seller_id: str
    entitlement: Entitlement
    became_entitled: bool = False
    lapsed: bool = False
    released: int = 0
    held: int = 0


@dataclass(frozen=True)
class Applied:
    """What became of one order: ``stored``, ``updated`` (refund or closing) or ``duplicate``.

    ``seller_id`` is None while the nick belongs to no known seller (the order waits under the nick).
    """

    outcome: str
    seller_id: str | None
    settled: Settled | None = None


def apply_order(order: BillingOrder, *, now: datetime, settle_duplicate: bool = True) -> Applied:
    """Store the order once and settle its seller.

    A pushed duplicate still settles (its first delivery may have stopped between the two writes);
    reconciliation, which sees mostly duplicates, passes ``settle_duplicate=False``.
    """
    if order.item_code not in rules_in_force().plans:
        # Money was paid, so the order is kept; the plan must be added to the rules for it to unlock anything.
        count("BillingUnknownPlan")
        logger.error("billing order for a plan the rules do not define", extra={"order_id": order.order_id})
    seller = sellers.find_by_nick(order.nick)
    if seller is None:
        outcome = orders.record(orders.pending_owner(order.nick), order, now=now)
        count("BillingOrderPending")
        logger.info("billing order kept until the seller authorizes", extra={"order_id": order.order_id})
        return Applied(outcome, None)
    outcome = orders.record(seller.seller_id, order, now=now)
    count(f"BillingOrder_{outcome}")
    if outcome == orders.DUPLICATE and not settle_duplicate:
        return Applied(outcome, seller.seller_id)
    return Applied(outcome, seller.seller_id, settle(seller.seller_id, now=now))


def _granted(seller_id: str, nick: str, now: datetime) -> list[BillingOrder]:
    orders.adopt(nick, seller_id, now=now)
    return orders.of_seller(seller_id)


def current_entitlement(seller_id: str, nick: str, *, now: datetime) -> Entitlement:
    """The seller's entitlement from its orders (adopting any still waiting under its nick), without storing it."""
    return entitlement(_granted(seller_id, nick, now), now)


def _entitled(seller: Seller, now: datetime) -> bool:
    # The same test the pipeline applies to its cached seller (SellerView.entitled).
    return bool(seller.paid_until) and seller.paid_until > now.timestamp()


def _stored_plan(granted: list[BillingOrder], ent: Entitlement) -> str | None:
    if ent.active:
        return ent.plan
    # Out of a paid period the plan of the latest one stays on record, so the seller still sees it.
    return plan_at(granted, ent.periods[-1].end - _INSTANT) if ent.periods else None


def settle(seller_id: str, *, now: datetime) -> Settled | None:
    """Recompute the seller's entitlement from its orders, store it, and hold or release its tasks.

    Turning entitled releases tasks held for ``plan_expired`` (those whose rating window closed meanwhile
    expire); lapsing after a paid period marks the seller ``lapsed`` and holds its open tasks.
    """
    seller = sellers.get(seller_id)
    if seller is None:
        return None
    granted = _granted(seller_id, seller.nick, now)
    ent = entitlement(granted, now)
    paid_until = int(ent.paid_until.timestamp()) if ent.paid_until else None
    plan = _stored_plan(granted, ent)
    flags = {"became": False, "lapsed": False}
    epoch = int(now.timestamp())
    for _ in range(ATTEMPTS):
        flags["became"] = ent.active and not _entitled(seller, now)
        flags["lapsed"] = not ent.active and bool(ent.periods) and seller.status == "active"
        before = seller_writes.Billing.of(seller)
        status = seller.status
        if ent.active and status == "lapsed":
            status = "active"
        elif flags["lapsed"]:
            status = "lapsed"
        after = seller_writes.Billing(paid_until, plan, status, epoch if flags["became"] else seller.entitled_since)
        if after == before:
            break
        # Only the billing fields are written, on the values read: a concurrent token refresh or settings change
        # neither conflicts nor is lost. A changed entitlement may need reminding, holding or purging sooner, so
        # the next daily pass looks at it.
        billing_at = min(seller.billing_at or epoch, epoch)
        if seller_writes.set_billing(seller_id, before, after, now=now, billing_at=billing_at) is not None:
            break
        seller = sellers.get(seller_id)
        if seller is None:
            return None
    else:
        raise SellerKeptChanging(seller_id)
    released = release_seller_holds(seller_id, PLAN_EXPIRED, now=now) if flags["became"] else 0
    held = hold_seller_tasks(seller_id, PLAN_EXPIRED, now=now) if flags["lapsed"] else 0
    if flags["became"] or flags["lapsed"]:
        logger.info(
            "entitlement changed",
            extra={"seller_id": seller_id, "entitled": ent.active, "released": released, "held": held},
        )
    return Settled(seller_id, ent, flags["became"], flags["lapsed"], released, held)


def keep_rejected(reason: str, message: dict | None, *, now: datetime, ref: str | None = None) -> None:
    """Keep a billing message the app refused, with the reason, for inspection."""
    rejected.keep(REJECTED_SOURCE, reason, message, now=now, ref=ref)
    count("BillingRejected")
    logger.warning("billing message rejected", extra={"ref": ref, "reason": reason})


def handle_billing_message(msg: Message, *, now: datetime) -> MessageResult:
    """Process one pushed billing message; what cannot be understood is rejected and kept, never dropped."""
    if msg.topic not in (topics.ORDER_PAID, topics.ORDER_CLOSED):
        count("BillingUnknownTopic")
        return MessageResult(msg.id, "ignored", f"topic {msg.topic} is not used")
    try:
        try:
            order = parse_order(
                msg.payload(), article_code=container().settings.article_code, closed=msg.topic == topics.ORDER_CLOSED
            )
        except (MalformedMessage, BillingOrderInvalid) as exc:
            keep_rejected(exc.reason, msg.model_dump(mode="json"), now=now, ref=msg.id)
            return MessageResult(msg.id, "rejected", exc.reason)
        applied = apply_order(order, now=now)
    except Exception as exc:
        # Storage or contention trouble: the sender delivers the message again.
        count("BillingMessageFailed")
        logger.error("billing message failed", extra={"message_id": msg.id, **failure(exc)})
        return MessageResult(msg.id, "error", "temporary failure, retry")
    return MessageResult(msg.id, "duplicate" if applied.outcome == orders.DUPLICATE else "ok")

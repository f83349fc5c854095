"""Use case: compare what the app knows of billing with the service market, and recover what a lost callback
left out.

Two passes, both cheap: the app's orders created in the last few days (``taobao.vas.order.search``, pages
of the whole app, not one call per seller), and, for a seller whose entitlement is about to matter
(expiring, lapsed, never paid), the market's own deadline (``taobao.vas.subscribe.get``). When the deadline
disagrees with ours, the seller's order history is searched and applied; what still disagrees afterwards is
logged, counted and audited for an operator, never silently "fixed".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.container import container
from chalicelib.domain.entitlement import Entitlement
from chalicelib.domain.market_time import format_market_time
from chalicelib.marketplace.billing_topics import BillingOrderInvalid, parse_order, searched_order
from chalicelib.marketplace.models import VasOrder
from chalicelib.services.billing.apply_billing_order import apply_order, keep_rejected, settle
from chalicelib.services.top_client import top_client
from chalicelib.store import audit, orders
from chalicelib.telemetry import count, logger

RECENT = timedelta(days=3)  # a daily job that missed two runs still sees every new order
SELLER_HISTORY = timedelta(days=400)  # longer than a yearly cycle
# Deadlines are written as the next cycle's 00:00:00 or as 23:59:59 of the last day.
DEADLINE_TOLERANCE = timedelta(minutes=1)


@dataclass
class Recovered:
    """Orders the market reported: how many, how many were new to the app (or newly refunded), how many
    could not be accepted."""

    seen: int = 0
    recovered: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class SellerCheck:
    """The market's deadline against ours for one seller, after recovering what it could."""

    agreed: bool
    recovered: int
    market_deadline: datetime | None
    our_deadline: datetime | None


def _apply_searched(order: VasOrder, tally: Recovered, now: datetime) -> None:
    tally.seen += 1
    try:
        content = parse_order(searched_order(order), article_code=container().settings.article_code)
    except BillingOrderInvalid as exc:
        tally.rejected += 1
        keep_rejected(f"order.search: {exc.reason}", {"order_id": str(order.order_id)}, now=now)
        return
    applied = apply_order(content, now=now, settle_duplicate=False)
    if applied.outcome != orders.DUPLICATE:
        tally.recovered += 1
        count("BillingOrderRecovered")
        logger.warning(
            "billing order recovered by reconciliation",
            extra={"order_id": content.order_id, "seller_id": applied.seller_id, "outcome": applied.outcome},
        )


def recover_recent(*, now: datetime, lookback: timedelta = RECENT) -> Recovered:
    """Apply every order of the app created in the last ``lookback``; the ones the app lacked are recovered."""
    tally = Recovered()
    search = (
        container()
        .top()
        .vas_order_search(container().settings.article_code, start_created=now - lookback, end_created=now)
    )
    for order in search:
        _apply_searched(order, tally, now)
    return tally


def _upcoming(moment: datetime | None, now: datetime) -> datetime | None:
    return moment if moment is not None and moment > now else None


def _agree(market: datetime | None, ours: datetime | None) -> bool:
    if market is None or ours is None:
        return market is ours
    return abs(market - ours) <= DEADLINE_TOLERANCE


def market_deadline(nick: str) -> datetime | None:
    """The latest deadline the market reports for the seller over all of the app's plans."""
    subscriptions = top_client().vas_subscribe_get(container().settings.article_code, nick)
    return max((s.deadline for s in subscriptions if s.deadline is not None), default=None)


def check_seller(seller_id: str, nick: str, ent: Entitlement, *, now: datetime) -> SellerCheck:
    """Compare the market's deadline with ours; on disagreement recover the seller's orders and compare again.

    Only deadlines still ahead are compared: a seller both sides consider expired agrees, however the
    market reports an old subscription.
    """
    market = _upcoming(market_deadline(nick), now)
    ours = _upcoming(ent.latest_end, now)
    if _agree(market, ours):
        return SellerCheck(True, 0, market, ours)
    tally = Recovered()
    client = top_client()
    for order in client.vas_order_search(
        container().settings.article_code, start_created=now - SELLER_HISTORY, end_created=now, nick=nick
    ):
        _apply_searched(order, tally, now)
    settled = settle(seller_id, now=now)
    ours = _upcoming(settled.entitlement.latest_end, now) if settled else ours
    if _agree(market, ours):
        return SellerCheck(True, tally.recovered, market, ours)
    count("BillingDisagreement")
    detail = {
        "market_deadline": format_market_time(market) if market else None,
        "our_deadline": format_market_time(ours) if ours else None,
    }
    logger.warning("billing disagrees with the service market", extra={"seller_id": seller_id, **detail})
    audit.append(
        seller_id,
        actor="billing",
        action="billing.reconcile",
        target=None,
        result="disagreement",
        detail=detail,
        now=now,
    )
    return SellerCheck(False, tally.recovered, market, ours)

"""Use case: a seller authorized the app: create or update the Seller with encrypted tokens."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.settings import default_settings
from chalicelib.marketplace.models import TokenGrant
from chalicelib.services.seller_tokens import apply_grant
from chalicelib.store import audit, orders, sellers
from chalicelib.telemetry import count, logger


def onboard(grant: TokenGrant, *, now: datetime) -> str:
    """Store the grant for its seller (new or returning) and return the seller id.

    A returning seller in ``reauth`` becomes active again; the worker releases its held tasks.
    """
    seller_id = str(grant.taobao_user_id)
    seller = sellers.get(seller_id)
    if seller is None:
        seller = sellers.create(
            seller_id, grant.taobao_user_nick, now=now, settings=default_settings().model_dump(mode="json")
        )
        count("SellerOnboarded")
        action = "seller.onboard"
    else:
        action = "seller.reauthorize"
    apply_grant(seller, grant)
    was_reauth = seller.status == "reauth"
    if seller.status in ("reauth", "purged"):
        seller.status = "active"
    seller.nick = grant.taobao_user_nick
    sellers.save(seller, now=now)
    # A seller who bought the app before authorizing it is entitled from this moment, not from the next daily pass.
    if orders.of_seller(seller_id) or orders.of_seller(orders.pending_owner(seller.nick)):
        from chalicelib.services.apply_billing_order import settle

        settle(seller_id, now=now)
    audit.append(seller_id, actor="seller", action=action, target=None, result="ok", detail=None, now=now)
    logger.info("seller authorized", extra={"seller_id": seller_id, "was_reauth": was_reauth})
    if was_reauth:
        from chalicelib.services.holds import release_seller_holds

        release_seller_holds(seller_id, "reauth", now=now)
    return seller_id

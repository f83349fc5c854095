"""Use case: a seller authorized the app: create or update the Seller with encrypted tokens."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.settings import default_settings
from chalicelib.marketplace.models import TokenGrant
from chalicelib.services.sellers.seller_tokens import sealed
from chalicelib.store import audit, orders, seller_writes, sellers
from chalicelib.telemetry import count, logger


def onboard(grant: TokenGrant, *, now: datetime) -> str:
    """Store the grant for its seller (new or returning) and return the seller id.

    Safe to run twice at once (a double-clicked callback, two tabs): creation is a conditional put, and the grant
    is stored with one update of the tokens, the nick and the status alone, so nothing here can fail on another
    writer's change once the marketplace has spent the authorization code. A returning seller in ``reauth``
    becomes active again and its held tasks are released.
    """
    seller_id = str(grant.taobao_user_id)
    before = sellers.get(seller_id)
    action = "seller.reauthorize"
    if before is None:
        created = sellers.create(
            seller_id, grant.taobao_user_nick, now=now, settings=default_settings().model_dump(mode="json")
        )
        if created is not None:
            count("SellerOnboarded")
            action = "seller.onboard"
    was_reauth = before is not None and before.status == "reauth"
    seller = seller_writes.authorize(seller_id, grant.taobao_user_nick, sealed(seller_id, grant), now=now)
    if seller is None:
        raise LookupError("the seller vanished while it was being authorized")
    # A seller who bought the app before authorizing it is entitled from this moment, not from the next daily pass.
    if orders.of_seller(seller_id) or orders.of_seller(orders.pending_owner(seller.nick)):
        from chalicelib.services.billing.apply_billing_order import settle

        settle(seller_id, now=now)
    audit.append(seller_id, actor="seller", action=action, target=None, result="ok", detail=None, now=now)
    logger.info("seller authorized", extra={"seller_id": seller_id, "was_reauth": was_reauth})
    if was_reauth:
        from chalicelib.services.reviews.holds import release_seller_holds

        release_seller_holds(seller_id, "reauth", now=now)
    return seller_id

"""Use case: which of the seller's order filters skips a trade, reading the buyer's history in this shop only
when a filter needs it. The scheduler asks when the trade arrives and the write path again before posting."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from chalicelib.domain import order_filters
from chalicelib.domain.settings import SellerSettings
from chalicelib.marketplace.models import yuan_to_fen
from chalicelib.store import buyer_history


def amount_fen(payment: str | None) -> int | None:
    """The trade's amount in fen, or None when the message carries none that reads as one."""
    try:
        return yuan_to_fen(payment) if payment else None
    except ValueError:
        return None


def filter_reason(
    seller_id: str, settings: SellerSettings, facts: order_filters.TradeFacts, hashes: Iterable[str]
) -> str | None:
    """The reason of the seller's filter that skips this trade, or None."""
    hashes = [h for h in hashes if h]
    if settings.filters.needs_buyer_history and hashes:
        history = buyer_history.read(seller_id, hashes)
        facts = replace(
            facts, buyer_refunded=history.refund_at is not None, buyer_disputed=history.dispute_at is not None
        )
    return order_filters.skip_reason(settings.filters, facts)

"""Refund lifecycle of a trade, independent of the order its messages arrive in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

RefundStatus = Literal["created", "closed", "succeeded"]
Effect = Literal["none", "open", "succeeded"]

# A later lifecycle step always wins, so a late "created" can never reopen a closed or paid refund.
_RANK = {"created": 1, "closed": 2, "succeeded": 3}


def merge(refunds: Mapping[str, str], refund_id: str, status: RefundStatus) -> dict[str, str]:
    """The refunds map after one message: each refund keeps its furthest status."""
    merged = dict(refunds)
    current = merged.get(refund_id)
    if current is None or _RANK[status] > _RANK[current]:
        merged[refund_id] = status
    return merged


def effect(refunds: Mapping[str, str]) -> Effect:
    """What the refunds mean for the review: any paid refund skips it; any open one holds it."""
    statuses = set(refunds.values())
    if "succeeded" in statuses:
        return "succeeded"
    if "created" in statuses:
        return "open"
    return "none"

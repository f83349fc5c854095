"""Billing orders per seller: each ``order_id`` is written once; later refunds and closing only ever add to it.

A duplicate message changes nothing and a stale one cannot undo a newer one: ``refund_fee`` only grows and
``closed`` is only ever set, each by a conditional update, so orders arriving in any order, any number of
times, leave the same record. Orders for a nick the app does not know yet wait under ``pending_owner(nick)``
until the seller authorizes the app and ``adopt`` moves them.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import get_type_hints

from chalicelib.domain.entitlement import BillingOrder
from chalicelib.store.conditional import save_if, update_if
from chalicelib.store.models import Order

PENDING_PREFIX = "nick:"

STORED, UPDATED, DUPLICATE = "stored", "updated", "duplicate"


def pending_owner(nick: str) -> str:
    """The partition holding orders of a nick that no known seller has yet."""
    return f"{PENDING_PREFIX}{nick}"


# The order's fields are ``BillingOrder``'s, stored under the same names: times as epoch seconds, ``closed`` only
# once set (so a conditional update can test for it), ``refund_fee`` 0 when absent.
_FIELDS = tuple(field.name for field in fields(BillingOrder))
_TIMES = frozenset(name for name, kind in get_type_hints(BillingOrder).items() if kind is datetime)
_NUMBERS = frozenset(name for name, kind in get_type_hints(BillingOrder).items() if kind is int)


def _stored(name: str, value: object) -> object:
    if name in _TIMES:
        return int(value.timestamp())  # type: ignore[attr-defined]
    if name == "closed":
        return True if value else None
    return value


def _read(name: str, value: object) -> object:
    if name in _TIMES:
        return datetime.fromtimestamp(int(value), UTC)  # type: ignore[call-overload]
    if name in _NUMBERS:
        return int(value or 0)  # type: ignore[call-overload]
    return bool(value) if name == "closed" else value


def record(seller_id: str, order: BillingOrder, *, now: datetime) -> str:
    """Store the order once; ``stored`` when new, ``updated`` when it raised the refund or closed it, else
    ``duplicate``."""
    item = Order(
        seller_id,
        **{name: _stored(name, getattr(order, name)) for name in _FIELDS},
        received_at=int(now.timestamp()),
    )
    if save_if(item, condition=Order.order_id.does_not_exist()):
        return STORED
    refunded = _raise_refund(seller_id, order.order_id, order.refund_fee)
    closed = order.closed and _close(seller_id, order.order_id)
    return UPDATED if refunded or closed else DUPLICATE


def _raise_refund(seller_id: str, order_id: str, refund_fee: int) -> bool:
    # Refunds only accumulate on the market, so the larger figure is the newer one.
    if refund_fee <= 0:
        return False
    condition = Order.order_id.exists() & (Order.refund_fee < refund_fee)
    return update_if(Order(seller_id, order_id), actions=[Order.refund_fee.set(refund_fee)], condition=condition)


def _close(seller_id: str, order_id: str) -> bool:
    condition = Order.order_id.exists() & Order.closed.does_not_exist()
    return update_if(Order(seller_id, order_id), actions=[Order.closed.set(True)], condition=condition)


def as_order(item: Order) -> BillingOrder:
    """The stored item as a ``BillingOrder``."""
    return BillingOrder(**{name: _read(name, getattr(item, name)) for name in _FIELDS})


def of_seller(seller_id: str) -> list[BillingOrder]:
    """Every order of a seller (or of a pending nick), read consistently: one Query of its partition."""
    return [as_order(item) for item in Order.query(seller_id, consistent_read=True)]


def adopt(nick: str, seller_id: str, *, now: datetime) -> int:
    """Move the orders waiting under ``nick`` to the seller who now owns it; returns how many moved.

    Each order is recorded under the seller before its pending copy is deleted, so a crash in between
    leaves a duplicate that the next adoption absorbs, never a lost order.
    """
    moved = 0
    for item in Order.query(pending_owner(nick), consistent_read=True):
        record(seller_id, as_order(item), now=now)
        item.delete()
        moved += 1
    return moved

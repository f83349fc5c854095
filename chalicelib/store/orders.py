"""Billing orders per seller: each ``order_id`` is written once; later refunds and closing only ever add to it.

A duplicate message changes nothing and a stale one cannot undo a newer one: ``refund_fee`` only grows and
``closed`` is only ever set, each by a conditional update, so orders arriving in any order, any number of
times, leave the same record. Orders for a nick the app does not know yet wait under ``pending_owner(nick)``
until the seller authorizes the app and ``adopt`` moves them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.entitlement import BillingOrder
from chalicelib.store.conditional import save_if, update_if
from chalicelib.store.models import Order

PENDING_PREFIX = "nick:"

STORED, UPDATED, DUPLICATE = "stored", "updated", "duplicate"


def pending_owner(nick: str) -> str:
    """The partition holding orders of a nick that no known seller has yet."""
    return f"{PENDING_PREFIX}{nick}"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def record(seller_id: str, order: BillingOrder, *, now: datetime) -> str:
    """Store the order once; ``stored`` when new, ``updated`` when it raised the refund or closed it, else
    ``duplicate``."""
    item = Order(
        seller_id,
        order.order_id,
        biz_order_id=order.biz_order_id,
        nick=order.nick,
        article_code=order.article_code,
        item_code=order.item_code,
        biz_type=order.biz_type,
        cycle_start=_epoch(order.cycle_start),
        cycle_end=_epoch(order.cycle_end),
        total_pay_fee=order.total_pay_fee,
        refund_fee=order.refund_fee,
        closed=True if order.closed else None,
        created=_epoch(order.created),
        received_at=_epoch(now),
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
    return BillingOrder(
        order_id=item.order_id,
        biz_order_id=item.biz_order_id,
        nick=item.nick,
        article_code=item.article_code,
        item_code=item.item_code,
        biz_type=int(item.biz_type),
        cycle_start=_at(item.cycle_start),
        cycle_end=_at(item.cycle_end),
        total_pay_fee=int(item.total_pay_fee),
        refund_fee=int(item.refund_fee or 0),
        created=_at(item.created),
        closed=bool(item.closed),
    )


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

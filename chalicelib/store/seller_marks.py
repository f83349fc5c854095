"""Single-attribute marks on a seller, written without reading it first: whether its messages are permitted, how far
its refunds were read, and its install backfill's progress.

Each is one conditional UpdateItem of its own attributes (nobody read-modify-writes them), like every writer of
the seller (``store.seller_writes``): no write can lose another's change.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.store import seller_writes, sellers
from chalicelib.store.models import Seller


def _update(seller_id: str, actions: list, condition, *, now: datetime) -> bool:
    if seller_writes.update(seller_id, actions, condition, now=now) is None:
        return False
    sellers.forget(seller_id)
    return True


def set_messages_permitted(seller_id: str, permitted: bool, *, now: datetime) -> bool:
    """Record whether the marketplace sends the seller's messages; False when the seller does not exist."""
    return _update(seller_id, [Seller.messages_permitted.set(permitted)], None, now=now)


def advance_refunds_synced(seller_id: str, until: datetime, *, now: datetime) -> bool:
    """Move the refunds watermark forward to ``until`` (never back); False when it was already there or later."""
    mark = int(until.timestamp())
    behind = Seller.refunds_synced_at.does_not_exist() | (Seller.refunds_synced_at < mark)
    return _update(seller_id, [Seller.refunds_synced_at.set(mark)], behind, now=now)


def set_review_paused(seller_id: str, paused: bool, *, now: datetime) -> bool:
    """Pause (from ``now``) or resume the seller's automatic reviews; False when it already was so."""
    if paused:
        return _update(
            seller_id,
            [Seller.review_paused_at.set(int(now.timestamp()))],
            Seller.review_paused_at.does_not_exist(),
            now=now,
        )
    return _update(seller_id, [Seller.review_paused_at.remove()], Seller.review_paused_at.exists(), now=now)


def start_backfill(seller_id: str, run: int, progress: dict, *, now: datetime) -> bool:
    """Begin backfill run ``run`` (it replaces any earlier run's progress); False when the seller does not exist."""
    return _update(seller_id, [Seller.backfill_run.set(run), Seller.backfill.set(progress)], None, now=now)


def save_backfill(seller_id: str, run: int, progress: dict, *, now: datetime) -> bool:
    """Store run ``run``'s progress; False when a newer run replaced it (the old run's job then stops)."""
    return _update(seller_id, [Seller.backfill.set(progress)], Seller.backfill_run == run, now=now)

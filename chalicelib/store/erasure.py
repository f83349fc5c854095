"""Erasing a seller's personal data when its subscription is over for good: review tasks and blacklist."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.store import blacklist
from chalicelib.store.models import Blacklist, Task


def _delete_partition(model: type[Model], seller_id: str, range_key: str) -> int:
    deleted = 0
    # Keys only, a page at a time; batch deletes go 25 to a request.
    with model.batch_write() as batch:
        for item in model.query(seller_id, attributes_to_get=["seller_id", range_key], page_size=100):
            batch.delete(item)
            deleted += 1
    return deleted


def delete_tasks(seller_id: str) -> int:
    """Delete every task of the seller (whatever its state); returns how many."""
    return _delete_partition(Task, seller_id, "tid")


def delete_blacklist(seller_id: str) -> int:
    """Delete the seller's whole buyer blacklist; returns how many entries."""
    deleted = _delete_partition(Blacklist, seller_id, "buyer_hash")
    blacklist.forget(seller_id)
    return deleted

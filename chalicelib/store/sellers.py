"""Seller repository, with a short per-container cache for the worker's hot path (``container.CACHE_TTLS``)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import TtlCache, container
from chalicelib.store.models import Seller

_MISSING = object()


def _cache() -> TtlCache:
    return container().cache("sellers")


def get(seller_id: str, *, consistent: bool = True) -> Seller | None:
    """The seller (read consistently unless ``consistent`` is False), or None."""
    try:
        seller = Seller.get(seller_id, consistent_read=consistent)
    except Seller.DoesNotExist:
        seller = None
    _cache().put(seller_id, seller)
    return seller


def cached(seller_id: str) -> Seller | None:
    """The seller from the container cache when fresh enough, else from the table."""
    hit = _cache().get(seller_id, _MISSING)
    if hit is not _MISSING:
        return hit
    # Whoever reads through the cache accepts a minute of staleness: an eventually consistent read is enough
    # and costs half a read unit. A seller created a moment ago may not show in such a read yet, so absence is
    # confirmed with a consistent one.
    seller = get(seller_id, consistent=False)
    return seller if seller is not None else get(seller_id)


def forget(seller_id: str | None = None) -> None:
    """Drop one seller (or all) from the container cache."""
    if seller_id is None:
        _cache().clear()
    else:
        _cache().pop(seller_id)


def find_by_nick(nick: str) -> Seller | None:
    """The seller with this shop nick (billing messages carry only the nick)."""
    for key in Seller.by_nick.query(nick, limit=1):
        return get(key.seller_id)
    return None


def create(seller_id: str, nick: str, *, now: datetime, settings: dict, **fields) -> Seller:
    """Create a seller row (optimistic locking starts at version 1)."""
    epoch = int(now.timestamp())
    seller = Seller(seller_id, nick=nick, settings=settings, created_at=epoch, updated_at=epoch, **fields)
    seller.save(condition=Seller.seller_id.does_not_exist())
    _cache().put(seller_id, seller)
    return seller


def save(seller: Seller, *, now: datetime) -> Seller:
    """Save changes made to a loaded seller; raises on a concurrent change (version check)."""
    seller.updated_at = int(now.timestamp())
    seller.save()
    _cache().put(seller.seller_id, seller)
    return seller


def all_ids(*, page_size: int = 100):
    """Every seller id, for the daily fan-out jobs (keys only, paged)."""
    for seller in Seller.scan(attributes_to_get=["seller_id"], page_size=page_size):
        yield seller.seller_id

"""Seller repository, with a short per-container cache for the worker's hot path (``runtime.CACHE_TTLS``).

Creation writes the keys of the per-seller jobs' indexes (``shard``, ``token_due_at``, a first ``billing_at``),
derived from the seller's own fields, and the per-concern writers (``store.seller_writes``) keep them in step,
so no job ever needs a Scan to find its sellers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.container import container
from chalicelib.runtime import TtlCache
from chalicelib.store.conditional import save_if
from chalicelib.store.models import Seller

# Partitions of the sellers' job indexes. Every shard is paged separately, so a run's reads and the planners'
# work spread over 16 keys; it must not shrink once sellers are indexed (their shard is kept with them).
SELLER_SHARDS = 16
# Sellers whose tokens the tokens job leaves alone: re-authorizing is theirs to do, and purged ones are gone.
_NOT_REFRESHED = frozenset({"reauth", "purged"})


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
    """The seller from the container cache when fresh enough, else from the table (one read however many
    threads miss it at once)."""

    def read() -> Seller | None:
        # Whoever reads through the cache accepts a minute of staleness: an eventually consistent read is enough
        # and costs half a read unit. A seller created a moment ago may not show in such a read yet, so absence
        # is confirmed with a consistent one.
        seller = get(seller_id, consistent=False)
        return seller if seller is not None else get(seller_id)

    return _cache().get_or_load(seller_id, read)


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


def create(seller_id: str, nick: str, *, now: datetime, settings: dict, **fields) -> Seller | None:
    """Create a seller row once; None when it exists already (a concurrent authorization created it).

    After this, the item is only ever changed per concern (``store.seller_writes``), never saved whole.
    """
    epoch = int(now.timestamp())
    seller = Seller(seller_id, nick=nick, settings=settings, created_at=epoch, updated_at=epoch, **fields)
    _index_keys(seller, now)
    if not save_if(seller, condition=Seller.seller_id.does_not_exist()):
        return None
    _cache().put(seller_id, seller)
    return seller


def remember(seller: Seller) -> None:
    """Put a seller as just written (an update's answer holds the whole item) into the container cache."""
    _cache().put(seller.seller_id, seller)


def seller_shard(seller_id: str) -> int:
    """The seller's stable shard in the job indexes."""
    digest = hashlib.blake2b(seller_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % SELLER_SHARDS


def _index_keys(seller: Seller, now: datetime) -> None:
    """Set the job indexes' keys from the seller's fields: a purged seller leaves every index, a seller in
    ``reauth`` (or without tokens) leaves the tokens index, and a seller new to billing is due at its next pass."""
    if seller.status == "purged":
        seller.shard = seller.token_due_at = seller.billing_at = None
        return
    seller.shard = seller_shard(seller.seller_id)
    refreshable = seller.status not in _NOT_REFRESHED and bool(seller.tokens) and bool(seller.token_expires_at)
    seller.token_due_at = seller.token_expires_at if refreshable else None
    if seller.billing_at is None:
        seller.billing_at = int(now.timestamp())


# Job index name → the index and its range key (None: the whole shard, in seller id order).
_JOB_INDEXES = {
    "by_shard": (Seller.by_shard, None),
    "token_due": (Seller.token_due, Seller.token_due_at),
    "billing_due": (Seller.billing_due, Seller.billing_at),
}


@dataclass(frozen=True)
class Page:
    """One page of a job index: the seller ids, and where the next page starts (None: the shard is done)."""

    seller_ids: list[str]
    after: dict | None


def index_page(index: str, shard: int, *, upto: int | None = None, after: dict | None = None, limit: int) -> Page:
    """Up to ``limit`` seller ids of ``shard`` in a job index, from ``after`` on (one Query, keys only).

    ``upto`` bounds the index's range key (``token_due_at`` or ``billing_at`` at or before it).
    """
    found, range_key = _JOB_INDEXES[index]
    condition = None if upto is None or range_key is None else range_key <= upto
    result = found.query(shard, condition, limit=limit, page_size=limit, last_evaluated_key=after)
    ids = [item.seller_id for item in result]
    return Page(ids, result.last_evaluated_key if ids else None)


def prefetch(seller_ids: Iterable[str]) -> None:
    """Read the sellers not cached yet with BatchGetItem (100 per request, eventually consistent, as ``cached``
    does) into the container cache: a batch of reviews costs one read, not one per review."""
    cache = _cache()
    wanted = [seller_id for seller_id in dict.fromkeys(seller_ids) if seller_id not in cache]
    if wanted:
        for seller in Seller.batch_get(wanted, consistent_read=False):
            cache.put(seller.seller_id, seller)


def flag_blacklist(seller_id: str) -> None:
    """Record that the seller keeps a blacklist, before its first entry is written (the flag is never cleared,
    so no entry can exist while the review path believes there is none).

    One attribute set by one UpdateItem: no other writer of the seller touches it.
    """
    seller = get(seller_id)
    if seller is None or seller.has_blacklist:
        return
    seller.update(actions=[Seller.has_blacklist.set(True)])
    _cache().put(seller_id, seller)

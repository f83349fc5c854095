"""Per-seller buyer blacklist, keyed by the buyer's keyed hash; cached per container for the hot path."""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import container
from chalicelib.runtime import TtlCache
from chalicelib.store import sellers
from chalicelib.store.conditional import save_if
from chalicelib.store.models import Blacklist


def _cache() -> TtlCache:
    return container().cache("blacklist")


def hashes(seller_id: str, *, kept: bool = True) -> frozenset[str]:
    """All blacklisted buyer hashes of a seller (one Query per seller per minute per container).

    ``kept=False`` (the seller's ``has_blacklist`` flag is off) means there is none to read: no Query.
    """
    if not kept:
        return frozenset()
    return _cache().get_or_load(
        seller_id,
        lambda: frozenset(e.buyer_hash for e in Blacklist.query(seller_id, attributes_to_get=["buyer_hash"])),
    )


def add(
    seller_id: str,
    buyer_hash: str,
    *,
    masked: str,
    reason: str,
    now: datetime,
    note: str | None = None,
    tid: str | None = None,
) -> bool:
    """Blacklist a buyer; False when already there. The seller is flagged first (``sellers.flag_blacklist``).

    ``reason`` is the source (``manual``, ``bad_rating``: by hand from a rating, ``auto_bad_rating``), ``tid`` the
    order it came from, ``note`` the seller's words.
    """
    sellers.flag_blacklist(seller_id)
    _cache().pop(seller_id)
    entry = Blacklist(
        seller_id, buyer_hash, buyer_masked=masked, reason=reason, added_at=int(now.timestamp()), note=note, tid=tid
    )
    return save_if(entry, condition=Blacklist.buyer_hash.does_not_exist())


def remove(seller_id: str, buyer_hash: str) -> bool:
    """Remove a buyer from the blacklist; False when not there."""
    _cache().pop(seller_id)
    try:
        entry = Blacklist.get(seller_id, buyer_hash)
    except Blacklist.DoesNotExist:
        return False
    entry.delete()
    return True


def entries(seller_id: str, *, limit: int = 100, cursor: dict | None = None) -> tuple[list[Blacklist], dict | None]:
    """A page of a seller's entries and the cursor of the next page."""
    result = Blacklist.query(seller_id, limit=limit, last_evaluated_key=cursor)
    page = list(result)
    return page, result.last_evaluated_key


def forget(seller_id: str) -> None:
    """Drop one seller's cached blacklist from this container."""
    _cache().pop(seller_id)

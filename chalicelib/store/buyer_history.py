"""What a seller's shop remembers about a buyer, by keyed hash only: when they first asked for a refund, first
opened a dispute (an after-sale refund), and which review text they got last.

Kept in the Stats table under the bucket ``buyer#<hash>`` (a seller's day and hour buckets start with a digit,
so no range of them ever reads these), one item per buyer, written with atomic updates, no read first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.store.conditional import condition_failed
from chalicelib.store.models import Stats

PREFIX = "buyer#"
# A buyer's history is kept as long as the marketplace lets the shop read its ratings back.
RETENTION = timedelta(days=180)


@dataclass(frozen=True)
class BuyerHistory:
    """One buyer's marks in one shop (epoch seconds; None: never)."""

    refund_at: int | None = None
    dispute_at: int | None = None
    last_text: str | None = None


def _bucket(buyer_hash: str) -> str:
    return PREFIX + buyer_hash


def _of(item: Stats) -> BuyerHistory:
    return BuyerHistory(
        refund_at=int(item.refund_at) if item.refund_at is not None else None,
        dispute_at=int(item.dispute_at) if item.dispute_at is not None else None,
        last_text=item.last_text,
    )


def read(seller_id: str, hashes: Iterable[str]) -> BuyerHistory:
    """The buyer's marks, merged over their hashes (nick and open uid): the earliest of each, one BatchGet."""
    keys = [(seller_id, _bucket(h)) for h in dict.fromkeys(h for h in hashes if h)]
    if not keys:
        return BuyerHistory()
    found = [_of(item) for item in Stats.batch_get(keys)]
    refunds = [h.refund_at for h in found if h.refund_at is not None]
    disputes = [h.dispute_at for h in found if h.dispute_at is not None]
    texts = [h.last_text for h in found if h.last_text]
    return BuyerHistory(min(refunds, default=None), min(disputes, default=None), texts[0] if texts else None)


def read_many(seller_id: str, hashes: Iterable[str]) -> dict[str, BuyerHistory]:
    """Marks of many buyers by hash (BatchGet in pages of 100); buyers without marks are left out."""
    wanted = list(dict.fromkeys(h for h in hashes if h))
    found: dict[str, BuyerHistory] = {}
    for start in range(0, len(wanted), 100):
        keys = [(seller_id, _bucket(h)) for h in wanted[start : start + 100]]
        for item in Stats.batch_get(keys):
            found[item.bucket.removeprefix(PREFIX)] = _of(item)
    return found


def _mark(seller_id: str, buyer_hash: str, attr, value, *, now: datetime, first_only: bool) -> bool:
    item = Stats(seller_id, _bucket(buyer_hash))
    condition = attr.does_not_exist() if first_only else None
    try:
        item.update(actions=[attr.set(value), Stats.expire_at.set(now + RETENTION)], condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def mark_refund(seller_id: str, hashes: Iterable[str], *, dispute: bool, now: datetime) -> None:
    """Remember that the buyer asked this shop for a refund (and opened a dispute, for an after-sale one)."""
    at = int(now.timestamp())
    for buyer_hash in dict.fromkeys(h for h in hashes if h):
        _mark(seller_id, buyer_hash, Stats.refund_at, at, now=now, first_only=True)
        if dispute:
            _mark(seller_id, buyer_hash, Stats.dispute_at, at, now=now, first_only=True)


def remember_text(seller_id: str, hashes: Iterable[str], text_key: str, *, now: datetime) -> None:
    """Remember the key of the review text the buyer got, so the next trade gives them another one."""
    for buyer_hash in dict.fromkeys(h for h in hashes if h):
        _mark(seller_id, buyer_hash, Stats.last_text, text_key, now=now, first_only=False)

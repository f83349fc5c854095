"""Extortion signals shared across shops: per buyer hash, one signal per shop, a materialized flag, and each
shop's daily confirmation quota. The order-time lookup reads only the flag, cached per container.

Nothing here stores or returns a nick, a text, an order or a shop id: shops appear as opaque keys
(``security.buyer_id.shop_key``), and a buyer's signal count is never returned, only whether a flag is in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from chalicelib.container import container
from chalicelib.domain.extortion import Signal as SignalFact
from chalicelib.runtime import TtlCache
from chalicelib.store.conditional import update_if
from chalicelib.store.models import Signal

FLAG = "flag"
SHOP_PREFIX = "shop#"
QUOTA_PREFIX = "quota#"
QUOTA_RETENTION = timedelta(days=2)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _cache() -> TtlCache:
    return container().cache("extortion_flags")


def take_quota(shop: str, day: str, *, limit: int, now: datetime) -> bool:
    """Count one confirmation of ``shop`` on market ``day``; False (nothing counted) when ``limit`` is reached."""
    item = Signal(QUOTA_PREFIX + shop, day)
    return update_if(
        item,
        actions=[Signal.n.add(1), Signal.expire_at.set(now + QUOTA_RETENTION)],
        condition=Signal.n.does_not_exist() | (Signal.n < limit),
    )


def record(buyer: str, shop: str, *, kind: str, at: datetime, expire_at: datetime) -> None:
    """Keep ``shop``'s latest confirmation about ``buyer`` (one item per shop: a shop counts once)."""
    Signal(buyer, SHOP_PREFIX + shop, kind=kind, at=_epoch(at), expire_at=expire_at).save()


def signals_of(buyer: str) -> list[SignalFact]:
    """Every stored signal about ``buyer`` (a strongly consistent Query of its own partition)."""
    found = Signal.query(buyer, Signal.entry.startswith(SHOP_PREFIX), consistent_read=True)
    return [
        SignalFact(item.entry.removeprefix(SHOP_PREFIX), item.kind, datetime.fromtimestamp(item.at, UTC))
        for item in found
    ]


def raise_flag(buyer: str, until: datetime) -> bool:
    """Store that ``buyer`` is flagged until ``until``; a flag never moves back (concurrent raises keep the
    latest end). False when the stored flag already lasts as long."""
    _cache().pop(buyer)
    epoch = _epoch(until)
    return update_if(
        Signal(buyer, FLAG),
        actions=[Signal.until.set(epoch), Signal.expire_at.set(until)],
        condition=Signal.until.does_not_exist() | (Signal.until < epoch),
    )


def flags_until(buyers: Iterable[str]) -> dict[str, datetime | None]:
    """When each buyer's flag ends (None: no flag stored), through the per-container cache: the buyers not cached
    are read together in one BatchGetItem of their flag items (eventually consistent)."""
    cache, marker = _cache(), object()
    answer: dict[str, datetime | None] = {}
    missing = []
    for buyer in dict.fromkeys(buyers):
        hit = cache.get(buyer, marker)
        if hit is marker:
            missing.append(buyer)
        else:
            answer[buyer] = hit
    if missing:
        found = {item.subject: item for item in Signal.batch_get([(buyer, FLAG) for buyer in missing])}
        for buyer in missing:
            item = found.get(buyer)
            until = datetime.fromtimestamp(item.until, UTC) if item is not None and item.until else None
            answer[buyer] = cache.put(buyer, until)
    return answer


def clear(buyer: str) -> int:
    """Remove ``buyer``'s flag and every signal about it (an upheld appeal); returns how many items went."""
    _cache().pop(buyer)
    removed = 0
    for item in Signal.query(buyer, consistent_read=True):
        item.delete()
        removed += 1
    return removed

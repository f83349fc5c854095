"""What a seller's shop remembers about a buyer, by keyed hash only: when they first asked for a refund, first
opened a dispute (an after-sale refund), and which review text they got last.

Kept in the Stats table (a seller's day and hour buckets start with a digit, so no range of them ever reads
these): the refund marks under ``buyer#<hash>``, one item per identifier, written with atomic updates, no read
first; the last text under ``phrase#<hash>``, one item per buyer (under their open uid's hash when known, else
their nick's), overwritten whole. Inside ``texts_batched()`` (one push) the texts are read for the whole push at
once and written together when it ends, so a push of a hundred trades costs one BatchWriteItem in four, not a
hundred updates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.store.models import Stats

PREFIX = "buyer#"
TEXT_PREFIX = "phrase#"
# A buyer's history is kept as long as the marketplace lets the shop read its ratings back.
RETENTION = timedelta(days=180)


@dataclass(frozen=True)
class BuyerHistory:
    """One buyer's marks in one shop (epoch seconds; None: never)."""

    refund_at: int | None = None
    dispute_at: int | None = None


def _bucket(buyer_hash: str) -> str:
    return PREFIX + buyer_hash


def _of(item: Stats) -> BuyerHistory:
    return BuyerHistory(
        refund_at=int(item.refund_at) if item.refund_at is not None else None,
        dispute_at=int(item.dispute_at) if item.dispute_at is not None else None,
    )


def read(seller_id: str, hashes: Iterable[str]) -> BuyerHistory:
    """The buyer's marks, merged over their hashes (nick and open uid): the earliest of each, one BatchGet."""
    keys = [(seller_id, _bucket(h)) for h in dict.fromkeys(h for h in hashes if h)]
    if not keys:
        return BuyerHistory()
    found = [_of(item) for item in Stats.batch_get(keys)]
    refunds = [h.refund_at for h in found if h.refund_at is not None]
    disputes = [h.dispute_at for h in found if h.dispute_at is not None]
    return BuyerHistory(min(refunds, default=None), min(disputes, default=None))


def read_many(seller_id: str, hashes: Iterable[str]) -> dict[str, BuyerHistory]:
    """Marks of many buyers by hash (BatchGet in pages of 100); buyers without marks are left out."""
    wanted = list(dict.fromkeys(h for h in hashes if h))
    found: dict[str, BuyerHistory] = {}
    for start in range(0, len(wanted), 100):
        keys = [(seller_id, _bucket(h)) for h in wanted[start : start + 100]]
        for item in Stats.batch_get(keys):
            found[item.bucket.removeprefix(PREFIX)] = _of(item)
    return found


def mark_refund(seller_id: str, hashes: Iterable[str], *, dispute: bool, now: datetime) -> None:
    """Remember that the buyer asked this shop for a refund (and opened a dispute, for an after-sale one): one
    unconditional write per identifier keeps the first time of each (``if_not_exists``) and keeps the marks for
    ``RETENTION`` after the buyer's latest refund."""
    at = int(now.timestamp())
    marks = [Stats.refund_at, Stats.dispute_at] if dispute else [Stats.refund_at]
    for buyer_hash in dict.fromkeys(h for h in hashes if h):
        Stats(seller_id, _bucket(buyer_hash)).update(
            actions=[*(attr.set(attr | at) for attr in marks), Stats.expire_at.set(now + RETENTION)]
        )


class TextsNotSaved(RuntimeError):
    """The texts given inside ``texts_batched`` could not be written when it ended."""


# A remembered text: its key and when it was given (epoch seconds), or None when the buyer has none.
Remembered = tuple[str, int] | None


@dataclass
class _TextBatch:
    known: dict[tuple[str, str], Remembered] = field(default_factory=dict)
    pending: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)


_texts: ContextVar[_TextBatch | None] = ContextVar("buyer_texts_batch", default=None)


def _writing_hash(hashes: tuple[str, ...]) -> str:
    # The open uid's hash (the second of ``buyer_keys``) outlives nick changes; a buyer known by nick alone keeps
    # theirs under the nick's.
    return hashes[-1]


def _fetch_texts(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Remembered]:
    found: dict[tuple[str, str], Remembered] = dict.fromkeys(keys)
    for start in range(0, len(keys), 100):
        page = [(seller_id, TEXT_PREFIX + h) for seller_id, h in keys[start : start + 100]]
        for item in Stats.batch_get(page):
            if item.last_text:
                found[(item.seller_id, item.bucket.removeprefix(TEXT_PREFIX))] = (
                    item.last_text,
                    int(item.text_at or 0),
                )
    return found


def _unique(hashes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h for h in hashes if h))


def last_text(seller_id: str, hashes: Iterable[str]) -> str | None:
    """The key of the review text the buyer got last in this shop (the latest over their hashes), or None."""
    keys = [(seller_id, h) for h in _unique(hashes)]
    if not keys:
        return None
    batch = _texts.get()
    if batch is None:
        known = _fetch_texts(keys)
    else:
        missing = [k for k in keys if k not in batch.known]
        if missing:
            batch.known.update(_fetch_texts(missing))
        known = batch.known
    remembered = [known[k] for k in keys if known[k] is not None]
    return max(remembered, key=lambda r: r[1])[0] if remembered else None


def prefetch_texts(buyers: Iterable[tuple[str, Iterable[str]]]) -> None:
    """Read the last texts of many (seller, buyer hashes) in BatchGetItem pages of 100, for ``texts_batched``."""
    batch = _texts.get()
    if batch is None:
        return
    keys = [(seller_id, h) for seller_id, hashes in buyers for h in _unique(hashes)]
    missing = [k for k in dict.fromkeys(keys) if k not in batch.known]
    if missing:
        batch.known.update(_fetch_texts(missing))


def remember_text(seller_id: str, hashes: Iterable[str], text_key: str, *, now: datetime) -> None:
    """Remember the key of the review text the buyer got, so the next trade gives them another one: one item
    per buyer; inside ``texts_batched`` it is written when the block ends (later trades in it see it already)."""
    unique = _unique(hashes)
    if not unique:
        return
    at = int(now.timestamp())
    batch = _texts.get()
    if batch is None:
        _text_item(seller_id, _writing_hash(unique), text_key, at, now).save()
        return
    for h in unique:
        batch.known[(seller_id, h)] = (text_key, at)
    batch.pending[(seller_id, _writing_hash(unique))] = (text_key, at)


def _text_item(seller_id: str, buyer_hash: str, text_key: str, at: int, now: datetime) -> Stats:
    return Stats(seller_id, TEXT_PREFIX + buyer_hash, last_text=text_key, text_at=at, expire_at=now + RETENTION)


@contextmanager
def texts_batched(*, now: datetime) -> Iterator[None]:
    """Read the buyers' last texts once and write the new ones together (BatchWriteItem) when the block ends.

    Raises ``TextsNotSaved`` when that write fails (the block's own work is done by then)."""
    batch = _TextBatch()
    token = _texts.set(batch)
    try:
        yield
    finally:
        _texts.reset(token)
    if not batch.pending:
        return
    try:
        with Stats.batch_write() as writer:
            for (seller_id, buyer_hash), (text_key, at) in batch.pending.items():
                writer.save(_text_item(seller_id, buyer_hash, text_key, at, now))
    except Exception as exc:
        raise TextsNotSaved(f"{len(batch.pending)} buyers' last texts") from exc

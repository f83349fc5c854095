"""Use cases: a seller lists, adds and removes blacklisted buyers.

Buyers come in as a nick and/or an open uid and are kept only as keyed hashes (one entry per identifier)
with a masked display form; an entry's id is its hash, so nothing returned can reveal the buyer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.container import container
from chalicelib.security.buyer_id import buyer_hash, mask_nick
from chalicelib.services.ratings import extortion_signals
from chalicelib.services.sellers.seller_views import decode_cursor, encode_cursor
from chalicelib.store import audit, blacklist, tasks
from chalicelib.telemetry import count

MANUAL = "manual"
EXTORTION = extortion_signals.BLACKLIST_EXTORTION
FROM_RATING = "bad_rating"  # added by hand from a neutral/bad rating's order
ENTRY_ID = re.compile(r"^[0-9a-f]{64}$")


class EntryNotFound(LookupError):
    """None of the named buyers is on this seller's blacklist."""


class OrderNotFound(LookupError):
    """The order named to blacklist its buyer is not one of this seller's (or has no buyer on record)."""


@dataclass(frozen=True)
class Entry:
    """One blacklist entry as a seller may see it."""

    id: str
    buyer: str
    reason: str
    added_at: datetime
    note: str | None = None
    tid: str | None = None


def _entry(item) -> Entry:
    added = datetime.fromtimestamp(item.added_at, UTC)
    return Entry(item.buyer_hash, item.buyer_masked, item.reason, added, item.note, item.tid)


def _identities(nick: str | None, open_uid: str | None) -> list[tuple[str, str]]:
    """(hash, masked) for each identifier given; raises ``ValueError`` when none is usable."""
    secret = container().buyer_hash_secret()
    found = []
    if nick and nick.strip():
        found.append((buyer_hash(secret, nick, kind="nick"), mask_nick(nick)))
    if open_uid and open_uid.strip():
        found.append((buyer_hash(secret, open_uid, kind="open_uid"), mask_nick(open_uid)))
    if not found:
        raise ValueError("enter the buyer's nick or the order number")
    return found


def list_entries(seller_id: str, *, cursor: str | None, limit: int) -> tuple[list[Entry], str | None]:
    """A page of the seller's entries and the cursor of the next page."""
    start = None
    if cursor:
        (after,) = decode_cursor(cursor, (str,))
        start = {"seller_id": {"S": seller_id}, "buyer_hash": {"S": after}}
    items, last = blacklist.entries(seller_id, limit=limit, cursor=start)
    next_cursor = encode_cursor([last["buyer_hash"]["S"]]) if last else None
    return [_entry(item) for item in items], next_cursor


def _order_identities(seller_id: str, tid: str) -> tuple[list[tuple[str, str]], str]:
    """(hash, masked) of the buyer of one of the seller's orders, and the source an entry from it has."""
    task = tasks.get(seller_id, tid)
    if task is None or not (task.buyer_hash or task.buyer_uid_hash):
        raise OrderNotFound("no such order with a buyer on record")
    masked = task.buyer_masked or "*"
    found = [(h, masked) for h in (task.buyer_hash, task.buyer_uid_hash) if h]
    return found, FROM_RATING if task.buyer_rating in ("neutral", "bad") else MANUAL


def add_buyer(
    seller_id: str,
    *,
    nick: str | None,
    open_uid: str | None,
    now: datetime,
    note: str | None = None,
    tid: str | None = None,
    reason: str = MANUAL,
) -> tuple[list[Entry], int]:
    """Blacklist a buyer under every identifier given — or the buyer of order ``tid`` — with the seller's ``note``;
    returns the entries and how many were new. Raises ``OrderNotFound`` for an order that is not the seller's.

    With the reason ``extortion`` a newly blacklisted buyer is also an extortion signal, shared only as the
    seller's sharing setting allows (``services.ratings.extortion_signals``).
    """
    if tid and not (nick or open_uid):
        identities, source = _order_identities(seller_id, tid)
    else:
        identities, source = _identities(nick, open_uid), MANUAL
    if reason == EXTORTION:
        source = EXTORTION
    note = (note or "").strip() or None
    entries, new = [], []
    for hashed, masked in identities:
        if blacklist.add(seller_id, hashed, masked=masked, reason=source, now=now, note=note, tid=tid):
            new.append(hashed)
        entries.append(Entry(hashed, masked, source, now, note, tid))
    created = len(new)
    if new:
        # One record per buyer blacklisted (however many identifiers name them): the seller's log reads one line.
        detail = {"source": source, "entries": created} | ({"tid": tid} if tid else {})
        audit.append(
            seller_id, actor="seller", action="blacklist.add", target=new[0], result="ok", detail=detail, now=now
        )
    count("BlacklistAdded", created)
    if source == EXTORTION and new:
        extortion_signals.on_blacklisted(seller_id, tuple(new), now=now)
    return entries, created


def remove(
    seller_id: str, *, entry_id: str | None = None, nick: str | None = None, open_uid: str | None = None, now: datetime
) -> int:
    """Remove the entry ``entry_id``, or the buyer's entries by nick/open uid; raise ``EntryNotFound``."""
    keys = [entry_id] if entry_id else [hashed for hashed, _ in _identities(nick, open_uid)]
    removed = 0
    for key in keys:
        if blacklist.remove(seller_id, key):
            removed += 1
            audit.append(
                seller_id, actor="seller", action="blacklist.remove", target=key, result="ok", detail=None, now=now
            )
    if not removed:
        raise EntryNotFound("not on your blacklist")
    count("BlacklistRemoved", removed)
    return removed

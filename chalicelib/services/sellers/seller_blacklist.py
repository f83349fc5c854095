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
from chalicelib.services.sellers.seller_views import decode_cursor, encode_cursor
from chalicelib.store import audit, blacklist
from chalicelib.telemetry import count

MANUAL = "manual"
ENTRY_ID = re.compile(r"^[0-9a-f]{64}$")


class EntryNotFound(LookupError):
    """None of the named buyers is on this seller's blacklist."""


@dataclass(frozen=True)
class Entry:
    """One blacklist entry as a seller may see it."""

    id: str
    buyer: str
    reason: str
    added_at: datetime


def _entry(item) -> Entry:
    return Entry(item.buyer_hash, item.buyer_masked, item.reason, datetime.fromtimestamp(item.added_at, UTC))


def _identities(nick: str | None, open_uid: str | None) -> list[tuple[str, str]]:
    """(hash, masked) for each identifier given; raises ``ValueError`` when none is usable."""
    secret = container().buyer_hash_secret()
    found = []
    if nick and nick.strip():
        found.append((buyer_hash(secret, nick, kind="nick"), mask_nick(nick)))
    if open_uid and open_uid.strip():
        found.append((buyer_hash(secret, open_uid, kind="open_uid"), mask_nick(open_uid)))
    if not found:
        raise ValueError("name the buyer by nick or open uid")
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


def add_buyer(seller_id: str, *, nick: str | None, open_uid: str | None, now: datetime) -> tuple[list[Entry], int]:
    """Blacklist a buyer under every identifier given; returns the entries and how many were new."""
    entries, created = [], 0
    for hashed, masked in _identities(nick, open_uid):
        if blacklist.add(seller_id, hashed, masked=masked, reason=MANUAL, now=now):
            created += 1
            audit.append(
                seller_id, actor="seller", action="blacklist.add", target=hashed, result="ok", detail=None, now=now
            )
        entries.append(Entry(hashed, masked, MANUAL, now))
    count("BlacklistAdded", created)
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

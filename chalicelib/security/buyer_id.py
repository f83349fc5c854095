"""Buyer identities are kept only as a keyed hash (for matching) and a masked form (for display)."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import Literal

BuyerIdKind = Literal["nick", "open_uid"]
BUYER_ID_KINDS: tuple[BuyerIdKind, ...] = ("nick", "open_uid")


def _normalize(identifier: str) -> str:
    # The same nick arrives from webhooks, API pages and seller input: compare one canonical form.
    return unicodedata.normalize("NFC", identifier).strip()


def buyer_hash(secret: bytes, identifier: str, *, kind: BuyerIdKind) -> str:
    """HMAC-SHA256 hex of the normalized ``identifier``, namespaced by ``kind``.

    The kind is part of the MAC input, so a nick and an open_uid that happen to be equal never
    produce the same hash. Raises ``ValueError`` for an unknown kind, an empty secret or an
    identifier that is empty after normalization (an empty nick must not match every other one).
    """
    if kind not in BUYER_ID_KINDS:
        raise ValueError(f"unknown buyer id kind: {kind!r}")
    if not secret:
        raise ValueError("buyer hash secret is empty")
    normalized = _normalize(identifier)
    if not normalized:
        raise ValueError("buyer identifier is empty")
    message = f"{kind}\x00{normalized}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def buyer_keys(secret: bytes, nick: str | None, open_uid: str | None) -> tuple[str, ...]:
    """All hashes under which a buyer may be blacklisted: nick first, then open_uid; absent ones skipped."""
    keys: list[str] = []
    if nick and _normalize(nick):
        keys.append(buyer_hash(secret, nick, kind="nick"))
    if open_uid and _normalize(open_uid):
        keys.append(buyer_hash(secret, open_uid, kind="open_uid"))
    return tuple(keys)


def mask_nick(nick: str) -> str:
    """Display form showing at most the first and last character: ``tb_buyer1`` → ``t***1``.

    One character becomes ``*`` and two become ``x***`` so that short nicks are not revealed whole.
    Works on code points of the NFC form, so Chinese nicks mask the same way. Empty stays empty.
    """
    chars = _normalize(nick)
    if not chars:
        return ""
    if len(chars) == 1:
        return "*"
    if len(chars) == 2:
        return f"{chars[0]}***"
    return f"{chars[0]}***{chars[-1]}"


def shop_key(secret: bytes, seller_id: str) -> str:
    """An opaque key of a shop for shared signals: a keyed hash, namespaced apart from buyer hashes.

    Shared signals need only to tell shops apart, never to say which shop: the key cannot be turned back into
    the shop without the secret. Raises ``ValueError`` for an empty secret or shop.
    """
    if not secret:
        raise ValueError("hash secret is empty")
    if not seller_id:
        raise ValueError("shop is empty")
    return hmac.new(secret, f"shop\x00{seller_id}".encode(), hashlib.sha256).hexdigest()

"""Sellers' corrections of a rating's complaint category, kept as labels for the next model.

Each correction is an audit record of the seller's (``triage.corrected``: the text's hash and the two categories,
no buyer identity). A seller who opted in to share them (``share_corrections``) also adds one to a shared,
anonymised pool: the rating's words with long digit runs masked, the hash and the two categories — not the seller,
the trade or the buyer. ``tools.train_triage --corrections`` merges an export of the pool into training.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.triage import anonymised, text_key
from chalicelib.store import audit
from chalicelib.store.models import Audit

SHARED = "_shared#triage_corrections"  # the pool's partition in the audit table: no seller's
ACTION = "triage.corrected"


def record(seller_id: str, *, text: str, before: str, after: str, model: str, share: bool, now: datetime) -> str:
    """Record the seller's correction (and add it to the shared pool when ``share``); returns the text's hash."""
    key = text_key(text)
    detail = {"text_hash": key, "from": before, "to": after, "model": model}
    audit.append(seller_id, actor="seller", action=ACTION, target=key, result="ok", detail=detail, now=now)
    if share:
        pooled = {**detail, "text": anonymised(text)}
        audit.append(SHARED, actor="shared", action=ACTION, target=key, result="ok", detail=pooled, now=now)
    return key


def shared(*, limit: int = 10_000) -> list[dict]:
    """The shared pool's corrections, newest first: text (anonymised), text_hash, from, to, model."""
    return [dict(item.detail or {}) for item in Audit.query(SHARED, scan_index_forward=False, limit=limit)]


def of_seller(seller_id: str, *, limit: int = 1000) -> list[dict]:
    """A seller's own corrections, newest first (hash and categories only)."""
    found = Audit.query(seller_id, scan_index_forward=False, filter_condition=Audit.action == ACTION, limit=limit)
    return [dict(item.detail or {}) for item in found]

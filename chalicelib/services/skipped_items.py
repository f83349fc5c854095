"""Items from the marketplace that were skipped because they could not be used (unreadable, or impossible like a
trade that ends in the future): each is kept with its reason where the operator sees it (``python -m
chalicelib.ops skipped``), logged and counted, and the job that met it goes on with the rest."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from chalicelib.marketplace.messages import MalformedMessage
from chalicelib.store import errors as store_errors
from chalicelib.store import rejected
from chalicelib.telemetry import count, logger

SOURCE = "marketplace"


def record(api: str, reason: str, ref: str | None, *, now: datetime, seller_id: str | None = None) -> None:
    """Keep one skipped item: the API it came from, why, its id (never its contents: they may hold buyer data).
    A store that cannot keep it now loses the record, never the job."""
    count("MarketplaceItemSkipped")
    logger.warning("marketplace item skipped", extra={"api": api, "reason": reason, "ref": ref, "seller_id": seller_id})
    try:
        rejected.keep(SOURCE, reason, {"api": api, "ref": ref, "seller_id": seller_id}, now=now, ref=ref)
    except store_errors.UNAVAILABLE:
        count("MarketplaceItemSkippedNotKept")


def recent(*, limit: int = 50) -> list[dict]:
    """The newest skipped items, newest first, as the operator's command shows them."""
    return [
        {"at": item.ts_id.split("#")[0], "reason": item.reason, **(item.message or {})}
        for item in rejected.recent(SOURCE, limit=limit)
    ]


def reason_of(exc: Exception) -> str:
    """Why an item could not be used, naming the field but never quoting a value."""
    if isinstance(exc, MalformedMessage):
        return exc.reason
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"invalid {'.'.join(str(part) for part in first['loc'])}: {first['type']}"[:120]
    return type(exc).__name__

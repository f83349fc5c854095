"""Use case: the seller's in-app inbox (消息中心) — every alert of the last 90 days, unread count, mark read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.domain.alert_policy import event_of
from chalicelib.store import outbox

ITEM_ID = re.compile(r"^[0-9]{8}T[0-9]{6}#[A-Za-z0-9:_.-]{1,160}$")


@dataclass(frozen=True)
class InboxItem:
    """One alert as the seller reads it."""

    id: str
    kind: str
    event: str | None
    message: str
    at: datetime
    read: bool
    robots_sent: tuple[str, ...]
    robots_pending: tuple[str, ...]


def _item(row) -> InboxItem:
    return InboxItem(
        id=row.ts_id,
        kind=row.kind,
        event=event_of(row.kind),
        message=row.message,
        at=datetime.strptime(row.ts_id.split("#", 1)[0], "%Y%m%dT%H%M%S").replace(tzinfo=UTC),
        read=row.read_at is not None,
        robots_sent=tuple(sorted(row.robots_sent or ())),
        robots_pending=tuple(sorted(row.robots_pending or ())),
    )


def inbox(
    seller_id: str, *, cursor: str | None, limit: int, unread_only: bool, now: datetime
) -> tuple[list[InboxItem], str | None, int]:
    """A page of the inbox (newest first), the next cursor, and how many items are unread in all."""
    rows, more = outbox.page(seller_id, limit=limit, cursor=cursor, unread_only=unread_only, now=now)
    return [_item(r) for r in rows], more, outbox.unread_count(seller_id, now=now)


def mark_read(seller_id: str, *, ids: list[str] | None, everything: bool, now: datetime) -> tuple[int, int]:
    """Mark the named items (or every unread one) read; returns how many changed and how many stay unread."""
    targets = outbox.unread_ids(seller_id, now=now) if everything else [i for i in ids or [] if ITEM_ID.match(i)]
    marked = outbox.mark_read(seller_id, targets, now=now)
    return marked, outbox.unread_count(seller_id, now=now)

"""Inbound messages the app refused, kept with the reason for inspection instead of being dropped."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from chalicelib.store.models import Rejected

RETENTION = timedelta(days=90)


def keep(source: str, reason: str, message: dict | None, *, now: datetime, ref: str | None = None) -> Rejected:
    """Store a refused message under ``source`` (e.g. ``billing``), newest last in time order."""
    item = Rejected(
        source,
        f"{now.strftime('%Y%m%dT%H%M%S.%f')}#{ref or ''}#{uuid.uuid4().hex[:8]}",
        reason=reason,
        message=message,
        expire_at=now + RETENTION,
    )
    item.save()
    return item


def recent(source: str, *, limit: int = 50) -> list[Rejected]:
    """The newest refused messages of ``source``."""
    return list(Rejected.query(source, scan_index_forward=False, limit=limit))

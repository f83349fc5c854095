"""Append-only audit trail: every marketplace write and every operator action."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from chalicelib.store.models import Audit

RETENTION = timedelta(days=400)


def new_record(
    seller_id: str, *, actor: str, action: str, target: str | None, result: str, detail: dict | None, now: datetime
) -> Audit:
    """Build (not save) an audit record with a time-ordered unique sort key."""
    return Audit(
        seller_id,
        f"{now.strftime('%Y%m%dT%H%M%S.%f')}#{uuid.uuid4().hex[:12]}",
        actor=actor,
        action=action,
        target=target,
        result=result,
        detail=detail,
        expire_at=now + RETENTION,
    )


def append(seller_id: str, **fields) -> Audit:
    """Save a new audit record; the conditional put means an existing record can never be overwritten."""
    record = new_record(seller_id, **fields)
    record.save(condition=Audit.ts_id.does_not_exist())
    return record


def trail(seller_id: str, *, limit: int = 50) -> list[Audit]:
    """The newest audit records of a seller."""
    return list(Audit.query(seller_id, scan_index_forward=False, limit=limit))

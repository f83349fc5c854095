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


def skip_record(seller_id: str, tid: str, reason: str, *, now: datetime) -> Audit:
    """Build (not save) the record of a review skipped for ``reason`` (written with the task's transition)."""
    return new_record(
        seller_id,
        actor="worker",
        action="taobao.traderate.add",
        target=tid,
        result="skipped",
        detail={"reason": reason},
        now=now,
    )


def page(
    seller_id: str,
    *,
    first: str,
    last: str,
    limit: int,
    cursor: str | None,
    actions: tuple[str, ...] | None = None,
    actor: str | None = None,
) -> tuple[list[Audit], str | None]:
    """A page of the seller's records with sort keys in [``first``, ``last``], newest first, optionally only
    ``actions`` (prefixes such as ``blacklist.``) and one ``actor``; and the sort key to go on after."""
    condition = None
    if actions:
        for prefix in actions:
            one = Audit.action.startswith(prefix)
            condition = one if condition is None else condition | one
    if actor:
        condition = Audit.actor == actor if condition is None else condition & (Audit.actor == actor)
    upper = cursor if cursor and cursor < last else last
    found: list[Audit] = []
    key_range = Audit.ts_id.between(first, upper)
    last_key = None
    while len(found) < limit:
        result = Audit.query(
            seller_id,
            key_range,
            filter_condition=condition,
            scan_index_forward=False,
            limit=limit - len(found),
            last_evaluated_key=last_key,
        )
        found += [item for item in result if item.ts_id != cursor]
        last_key = result.last_evaluated_key
        if not last_key:
            break
    more = found[-1].ts_id if found and last_key else None
    return found, more

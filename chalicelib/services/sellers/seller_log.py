"""Use case: the seller's 操作日志 — their own audit trail, filtered by kind and who acted, paged, exportable.

Read from the audit table (the seller's partition only): settings changes, explanations asked for by the seller or
by auto-explain and posted, reviews posted and skipped with the reason, blacklist and robot changes. The records'
buyer hashes are never shown; an entry names the order (tid) where there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from chalicelib.domain.market_time import MARKET_TZ
from chalicelib.store import audit
from chalicelib.store.tasks import trade_tid

LogKind = Literal["settings", "explanation", "review", "blacklist", "alerts"]
Who = Literal["seller", "auto", "system", "operator"]

# Each kind is a set of action prefixes (audit records are filtered by ``begins_with``).
KINDS: dict[str, tuple[str, ...]] = {
    "settings": ("settings.",),
    "explanation": ("explanation.", "taobao.traderate.explain.add"),
    "review": ("taobao.traderate.add",),
    "blacklist": ("blacklist.",),
    "alerts": ("robot.",),
}
_ACTOR_OF_WHO = {"seller": "seller", "auto": "auto"}
_TID_ACTIONS = ("taobao.traderate.add", "taobao.traderate.explain.add", "explanation.request")


@dataclass(frozen=True)
class LogEntry:
    """One line of the 操作日志."""

    id: str
    at: datetime
    kind: str
    who: Who
    action: str
    result: str
    tid: str | None
    reason: str | None
    detail: dict


def kind_of(action: str) -> str:
    """The 操作日志 kind of an audit action (``other`` when none of the seller-facing ones)."""
    for kind, prefixes in KINDS.items():
        if action.startswith(prefixes):
            return kind
    return "other"


def who_of(actor: str) -> Who:
    """Who acted, in the seller's terms: the seller, auto (their automatic settings), us (system) or our staff."""
    if actor in _ACTOR_OF_WHO:
        return _ACTOR_OF_WHO[actor]  # type: ignore[return-value]
    if actor.startswith("operator"):
        return "operator"
    return "system"


def _entry(record) -> LogEntry:
    detail = dict(record.detail or {})
    tid = record.target if record.action in _TID_ACTIONS else detail.get("tid")
    if record.action.startswith("robot."):
        detail["channel"] = record.target
    if tid:
        tid = trade_tid(str(tid))  # an explanation task's key is the trade's with a suffix
    return LogEntry(
        id=record.ts_id,
        at=datetime.strptime(record.ts_id.split("#", 1)[0], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC),
        kind=kind_of(record.action),
        who=who_of(record.actor),
        action=record.action,
        result=record.result,
        tid=str(tid) if tid else None,
        reason=detail.get("reason") if isinstance(detail.get("reason"), str) else None,
        detail={k: v for k, v in detail.items() if k in ("fields", "source", "channel", "version")},
    )


def _bound(day: date, *, end: bool) -> str:
    start = datetime.combine(day + timedelta(days=1) if end else day, datetime.min.time(), MARKET_TZ)
    return start.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")


def entries(
    seller_id: str,
    *,
    first: date,
    last: date,
    kind: str | None,
    who: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[LogEntry], str | None]:
    """A page of the seller's log between two market days (inclusive), newest first, and the next cursor."""
    actions = KINDS[kind] if kind else tuple(p for prefixes in KINDS.values() for p in prefixes)
    actor = _ACTOR_OF_WHO.get(who or "")
    records, more = audit.page(
        seller_id,
        first=_bound(first, end=False),
        last=_bound(last, end=True),
        limit=limit,
        cursor=cursor,
        actions=actions,
        actor=actor,
    )
    found = [_entry(r) for r in records]
    if who in ("system", "operator"):
        found = [e for e in found if e.who == who]
    return found, more

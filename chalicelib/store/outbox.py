"""Notification outbox (what the seller and operators are told) and the SNS alerts topic."""

from __future__ import annotations

import json
import uuid
import zlib
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from chalicelib.container import container
from chalicelib.store.conditional import condition_failed
from chalicelib.store.models import Outbox

RETENTION = timedelta(days=90)


def record(
    seller_id: str,
    *,
    kind: str,
    message: str,
    detail: dict | None,
    now: datetime,
    item_key: str | None = None,
    robots: frozenset[str] = frozenset(),
    robots_due: datetime | None = None,
    shards: int = 1,
) -> Outbox:
    """Write a notification to the seller's outbox; a given ``item_key`` makes a rewrite land on the same item.

    ``robots`` names the group robots it must still reach, from ``robots_due`` on (the minute sweep sends them).
    """
    ts_id = f"{now.strftime('%Y%m%dT%H%M%S')}#{item_key or uuid.uuid4().hex[:12]}"
    item = Outbox(seller_id, ts_id, kind=kind, message=message, detail=detail, expire_at=now + RETENTION)
    if robots:
        item.robots_pending = set(robots)
        item.robot_shard = zlib.crc32(f"{seller_id}#{ts_id}".encode()) % shards
        item.robot_due_at = int((robots_due or now).timestamp())
    item.save()
    return item


# -- the seller's inbox -----------------------------------------------------------------------------------------
def page(
    seller_id: str, *, limit: int, cursor: str | None, unread_only: bool, now: datetime
) -> tuple[list[Outbox], str | None]:
    """A page of the seller's inbox, newest first (expired items left out), and the sort key to go on after."""
    start = {"seller_id": {"S": seller_id}, "ts#id": {"S": cursor}} if cursor else None
    condition = Outbox.expire_at > now
    if unread_only:
        condition &= Outbox.read_at.does_not_exist()
    found, last = [], start
    # A filtered Query may return short pages: read on until the page is full or the partition ends.
    while len(found) < limit:
        result = Outbox.query(
            seller_id,
            scan_index_forward=False,
            filter_condition=condition,
            limit=limit - len(found),
            last_evaluated_key=last,
        )
        found += list(result)
        last = result.last_evaluated_key
        if not last:
            break
    more = found[-1].ts_id if found and last else None
    return found, more


def unread_count(seller_id: str, *, now: datetime) -> int:
    """How many of the seller's inbox items are unread (at most 90 days of them exist)."""
    return Outbox.count(seller_id, filter_condition=(Outbox.expire_at > now) & Outbox.read_at.does_not_exist())


def mark_read(seller_id: str, ts_ids: list[str], *, now: datetime) -> int:
    """Mark the named items read; returns how many were unread (unknown or already read ones are passed over)."""
    marked = 0
    for ts_id in ts_ids:
        try:
            Outbox(seller_id, ts_id).update(
                actions=[Outbox.read_at.set(int(now.timestamp()))],
                condition=Outbox.ts_id.exists() & Outbox.read_at.does_not_exist(),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                continue
            raise
        marked += 1
    return marked


def unread_ids(seller_id: str, *, now: datetime, limit: int = 500) -> list[str]:
    """Sort keys of the seller's unread items, newest first (for "mark all read")."""
    items, _ = page(seller_id, limit=limit, cursor=None, unread_only=True, now=now)
    return [item.ts_id for item in items]


# -- delivery to the group robots ------------------------------------------------------------------------------
def robots_due(shard: int, *, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
    """(seller id, sort key) of items waiting for a robot in ``shard`` whose time has come."""
    found = Outbox.robot_due.query(shard, Outbox.robot_due_at <= int(now.timestamp()), limit=limit)
    return [(item.seller_id, item.ts_id) for item in found]


def get(seller_id: str, ts_id: str) -> Outbox | None:
    """One inbox item, or None."""
    try:
        return Outbox.get(seller_id, ts_id, consistent_read=True)
    except Outbox.DoesNotExist:
        return None


def claim(item: Outbox, *, until: datetime, now: datetime) -> bool:
    """Take the item for one delivery attempt until ``until`` (an attempt that dies is taken again after it);
    False when another attempt holds it or it moved since it was read."""
    free = Outbox.robot_claimed_until.does_not_exist() | (Outbox.robot_claimed_until <= int(now.timestamp()))
    try:
        item.update(
            actions=[Outbox.robot_claimed_until.set(int(until.timestamp()))],
            condition=(Outbox.robot_due_at == item.robot_due_at) & free,
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def robot_done(seller_id: str, ts_id: str, channel: str, *, sent: bool, pending: frozenset[str] = frozenset()) -> None:
    """The ``channel`` robot took the item (``sent``) or never will; the item leaves the index when none is left.

    ``pending``: the channels the item was read with. When ``channel`` was the only one, the item leaves the index
    in the same write (on the condition that it still is the only one: else as below, a refused write spent).
    """
    item = Outbox(seller_id, ts_id)
    actions = [Outbox.robots_pending.delete({channel})]
    if sent:
        actions.append(Outbox.robots_sent.add({channel}))
    leave = [Outbox.robot_shard.remove(), Outbox.robot_due_at.remove(), Outbox.robot_claimed_until.remove()]
    if pending == {channel}:
        try:
            only = (size(Outbox.robots_pending) == 1) & Outbox.robots_pending.contains(channel)
            item.update(actions=actions + leave, condition=only)
            return
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
    item.update(actions=actions, condition=Outbox.ts_id.exists())
    if not item.robots_pending:
        try:
            item.update(actions=leave, condition=Outbox.robots_pending.does_not_exist())
        except UpdateError as exc:
            if not condition_failed(exc):
                raise


def defer(seller_id: str, ts_id: str, *, until: datetime, failed: bool) -> int:
    """Try the item again at ``until``; a ``failed`` attempt is counted. Returns the attempts so far."""
    item = Outbox(seller_id, ts_id)
    actions = [Outbox.robot_due_at.set(int(until.timestamp())), Outbox.robot_claimed_until.remove()]
    if failed:
        actions.append(Outbox.robot_attempts.add(1))
    item.update(actions=actions, condition=Outbox.robot_shard.exists())
    return int(item.robot_attempts or 0)


def recent(seller_id: str, *, limit: int = 50) -> list[Outbox]:
    """The newest notifications of a seller."""
    return list(Outbox.query(seller_id, scan_index_forward=False, limit=limit))


def publish(topic_arn: str, *, subject: str, payload: dict) -> str:
    """Publish an alert to the SNS topic; returns the message id."""
    response = (
        container()
        .aws("sns")
        .publish(TopicArn=topic_arn, Subject=subject[:100], Message=json.dumps(payload, ensure_ascii=False))
    )
    return response["MessageId"]

"""Notification outbox (what the seller and operators are told) and the SNS alerts topic."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from chalicelib.container import container
from chalicelib.store.models import Outbox

RETENTION = timedelta(days=90)


def record(
    seller_id: str, *, kind: str, message: str, detail: dict | None, now: datetime, item_key: str | None = None
) -> Outbox:
    """Write a notification to the seller's outbox; a given ``item_key`` makes a rewrite land on the same item."""
    item = Outbox(
        seller_id,
        f"{now.strftime('%Y%m%dT%H%M%S')}#{item_key or uuid.uuid4().hex[:12]}",
        kind=kind,
        message=message,
        detail=detail,
        expire_at=now + RETENTION,
    )
    item.save()
    return item


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

"""Task items in DynamoDB's wire form, shaped and sized like the ones the app writes (about 560 bytes)."""

from __future__ import annotations

from collections.abc import Iterable

BATCH_WRITE = 25  # BatchWriteItem's limit


def task_item(seller_id: str, tid: str, *, due_shard: int, due_at: int) -> dict:
    """A scheduled task as the webhook writes it (content, hashes and masked nick included)."""
    return {
        "seller_id": {"S": seller_id},
        "tid": {"S": tid},
        "oid": {"S": tid + "1"},
        "state": {"S": "scheduled"},
        "due_shard": {"N": str(due_shard)},
        "due_at": {"N": str(due_at)},
        "trade_end": {"N": str(due_at)},
        "created_at": {"N": str(due_at)},
        "updated_at": {"N": str(due_at)},
        "attempts": {"N": "0"},
        "rev": {"N": "0"},
        "content": {"S": "亲爱的t***1，您购买的保温杯已确认收货，祝生活愉快。"},
        "template_index": {"N": "1"},
        "item_title": {"S": "保温杯"},
        "buyer_hash": {"B": bytes(range(32))},  # the app stores the hashes as bytes (HexDigestAttribute)
        "buyer_uid_hash": {"B": bytes(range(32, 64))},
        "buyer_masked": {"S": "t***1"},
    }


def batch_write(ddb, table: str, items: Iterable[dict]) -> int:
    """Write ``items`` with BatchWriteItem, 25 at a time, resending what comes back unprocessed."""
    written = 0
    batch: list[dict] = []
    for item in items:
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == BATCH_WRITE:
            written += _send(ddb, table, batch)
            batch = []
    if batch:
        written += _send(ddb, table, batch)
    return written


def _send(ddb, table: str, batch: list[dict]) -> int:
    request: dict | None = {table: batch}
    while request:
        request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or None
    return len(batch)

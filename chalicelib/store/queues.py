"""SQS: the review queue between the sweep and the workers, and the reconcile fan-out queue."""

from __future__ import annotations

import json
from collections.abc import Iterable

from chalicelib.container import container

BATCH = 10  # SQS's SendMessageBatch limit


def send_jobs(queue_url: str, jobs: Iterable[dict]) -> int:
    """Send JSON jobs in batches of ten; raises if any entry fails so the caller's unit of work is retried."""
    sqs = container().aws("sqs")
    sent = 0
    batch: list[dict] = []
    for job in jobs:
        batch.append(job)
        if len(batch) == BATCH:
            sent += _send(sqs, queue_url, batch)
            batch = []
    if batch:
        sent += _send(sqs, queue_url, batch)
    return sent


def _send(sqs, queue_url: str, batch: list[dict]) -> int:
    entries = [{"Id": str(i), "MessageBody": json.dumps(job, separators=(",", ":"))} for i, job in enumerate(batch)]
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    failed = response.get("Failed") or []
    if failed:
        raise RuntimeError(f"SQS refused {len(failed)} of {len(entries)} messages: {failed[0].get('Code')}")
    return len(entries)

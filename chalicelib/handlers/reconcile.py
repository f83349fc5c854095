"""Entry points: the daily reconcile fan-out (one SQS job per seller) and the reconcile queue's worker.

The worker answers SQS in the partial-batch shape (``batchItemFailures``) like the review worker: one
seller's failure is retried alone, and the template must set ``ReportBatchItemFailures`` on its event
source (see docs/reliability.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chalicelib.config import clock
from chalicelib.handlers import backfill_jobs
from chalicelib.handlers.lambda_entry import SCHEDULED, SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.handlers.sqs_batch import PoisonJob, process_batch
from chalicelib.services.reconcile_seller import queue_reconcile_jobs, reconcile_seller
from chalicelib.telemetry import logger


@lambda_entry(SCHEDULED)
def fan_out(event: dict, context) -> dict:
    """The daily schedule: queue one reconcile job per seller; a failure raises so the tick is retried."""
    return {"queued": queue_reconcile_jobs(now=clock.now())}


def _job(body: str) -> tuple[str, datetime]:
    try:
        job = json.loads(body)
        return str(job["seller_id"]), datetime.fromtimestamp(int(job["since"]), UTC)
    except (ValueError, KeyError, TypeError, OverflowError, OSError, RecursionError) as exc:
        raise PoisonJob(f"bad reconcile job: {type(exc).__name__}") from None


def _record_handler(record) -> str:
    seller_id, since = _job(record.body)
    result = reconcile_seller(seller_id, now=clock.now(), since=since)
    logger.debug("reconcile job done", extra={"seller_id": seller_id, "outcome": result.outcome})
    return result.outcome


@lambda_entry(SQS_FIRST_MESSAGE)
def handle(event: dict, context) -> dict:
    """Process an SQS batch of reconcile jobs and of install backfills (``backfill_jobs``); returns
    ``{"batchItemFailures": [...]}`` naming the failed ones."""
    backfill, rest = backfill_jobs.split(event)
    failed = backfill_jobs.work(backfill, context)["batchItemFailures"] if backfill["Records"] else []
    if rest["Records"]:
        failed += process_batch(rest, context, _record_handler)["batchItemFailures"]
    return {"batchItemFailures": failed}

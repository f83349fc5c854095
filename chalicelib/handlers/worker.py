"""Entry point: SQS review jobs → post reviews, reporting partial batch failures (see ``sqs_batch``)."""

from __future__ import annotations

import json

from chalicelib.config import clock
from chalicelib.handlers.lambda_entry import SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.handlers.sqs_batch import PoisonJob, process_batch
from chalicelib.services.post_review import process_job
from chalicelib.telemetry import logger


def _record_handler(record) -> str:
    try:
        job = json.loads(record.body)
        seller_id, tid = str(job["seller_id"]), str(job["tid"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonJob(f"bad job body: {exc}") from None
    logger.append_keys(seller_id=seller_id, tid=tid)
    outcome = process_job(seller_id, tid, now=clock.now())
    logger.debug("job done", extra={"seller_id": seller_id, "tid": tid, "result": outcome.result})
    return outcome.result


@lambda_entry(SQS_FIRST_MESSAGE)
def handle(event: dict, context) -> dict:
    """Process an SQS batch; returns ``{"batchItemFailures": [...]}`` naming only the failed records."""
    return process_batch(event, context, _record_handler)

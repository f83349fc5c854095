"""Entry point: SQS review jobs → post reviews, reporting partial batch failures (see ``sqs_batch``)."""

from __future__ import annotations

import json

from chalicelib.config import clock
from chalicelib.handlers.lambda_entry import SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.handlers.sqs_batch import PoisonJob, process_batch, record_keys
from chalicelib.services.post_review import process_job
from chalicelib.services.seller_state import prefetch
from chalicelib.telemetry import logger


def _job(body: str) -> tuple[str, str]:
    try:
        job = json.loads(body)
        return str(job["seller_id"]), str(job["tid"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonJob(f"bad job body: {type(exc).__name__}") from None


def _record_handler(record) -> str:
    seller_id, tid = _job(record.body)
    record_keys(seller_id=seller_id, tid=tid)
    outcome = process_job(seller_id, tid, now=clock.now())
    logger.debug("job done", extra={"seller_id": seller_id, "tid": tid, "result": outcome.result})
    return outcome.result


def _sellers_of(event: dict) -> list[str]:
    found = []
    for raw in event.get("Records") or []:
        try:
            found.append(_job(raw.get("body") or "")[0])
        except PoisonJob:
            continue  # reported by its record
    return found


@lambda_entry(SQS_FIRST_MESSAGE)
def handle(event: dict, context) -> dict:
    """Process an SQS batch (its sellers read in one request first); returns ``{"batchItemFailures": [...]}``
    naming only the failed records."""
    prefetch(_sellers_of(event))
    return process_batch(event, context, _record_handler)

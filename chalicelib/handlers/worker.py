"""Entry point: SQS review jobs → post reviews, reporting partial batch failures.

Chalice does not set ``ReportBatchItemFailures`` on its SQS event sources; the packaged template adds
``FunctionResponseTypes: [ReportBatchItemFailures]`` (see ``deploy/``), and this handler answers in that
shape through powertools' BatchProcessor, so one failing record never redoes its successful neighbours.
"""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from chalicelib.config import clock
from chalicelib.services.post_review import process_job
from chalicelib.telemetry import flush, logger


class PoisonJob(ValueError):
    """A queue message that can never be processed (it goes to the dead-letter queue after its tries)."""


def _record_handler(record) -> str:
    try:
        job = json.loads(record.body)
        seller_id, tid = str(job["seller_id"]), str(job["tid"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonJob(f"bad job body: {exc}") from None
    outcome = process_job(seller_id, tid, now=clock.now())
    logger.debug("job done", extra={"seller_id": seller_id, "tid": tid, "result": outcome.result})
    return outcome.result


def handle(event, context) -> dict:
    """Process an SQS batch; returns ``{"batchItemFailures": [...]}`` naming only the failed records."""
    raw = event.to_dict() if hasattr(event, "to_dict") else event
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        return process_partial_response(event=raw, record_handler=_record_handler, processor=processor, context=context)
    finally:
        flush()

"""SQS batches answered in the partial-failure shape, shared by every queue worker.

Chalice does not set ``ReportBatchItemFailures`` on its SQS event sources; the packaged template adds
``FunctionResponseTypes: [ReportBatchItemFailures]`` (``deploy/resources.json``), and the workers answer in
that shape through powertools' BatchProcessor, so one failing record never redoes its successful neighbours.
A record is not started when too little of the invocation is left to finish it: it is reported failed and
comes back after the queue's visibility timeout, instead of being cut off by Lambda's timeout midway.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from chalicelib.handlers.lambda_entry import Deadline, DeadlineNear
from chalicelib.telemetry import count, logger

# The longest one record may take: three marketplace attempts of 2 s connect + 5 s read, backoff, and the
# store writes around them.
RECORD_BUDGET_MS = 25_000


class PoisonJob(ValueError):
    """A queue message that can never be processed (it goes to the dead-letter queue after its tries)."""


def process_batch(event: dict, context, record_handler: Callable) -> dict:
    """Run ``record_handler`` on each record; returns ``{"batchItemFailures": [...]}`` naming only the failed."""

    deadline = Deadline(context, RECORD_BUDGET_MS)

    def guarded(record):
        if deadline.near():
            count("RecordsDeferredNearDeadline")
            raise DeadlineNear("too little time left to start this record")
        logger.set_correlation_id(record.message_id)
        return record_handler(record)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=guarded, processor=processor, context=context)

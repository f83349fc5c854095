"""SQS batches answered in the partial-failure shape, shared by every queue worker.

Chalice does not set ``ReportBatchItemFailures`` on its SQS event sources; the packaged template adds
``FunctionResponseTypes: [ReportBatchItemFailures]`` (``deploy/resources.json``), and the workers answer in
that shape through powertools' BatchProcessor, so one failing record never redoes its successful neighbours.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from chalicelib.telemetry import flush


class PoisonJob(ValueError):
    """A queue message that can never be processed (it goes to the dead-letter queue after its tries)."""


def process_batch(event, context, record_handler: Callable) -> dict:
    """Run ``record_handler`` on each record; returns ``{"batchItemFailures": [...]}`` naming only the failed."""
    raw = event.to_dict() if hasattr(event, "to_dict") else event
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        return process_partial_response(event=raw, record_handler=record_handler, processor=processor, context=context)
    finally:
        flush()

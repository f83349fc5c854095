"""Entry point: the backfill queue's worker runs the install backfills (``services.onboarding.backfill``), one page of
one seller's trades per record, in the partial-batch shape like every queue worker.

The backfill has its own queue and function so a day of many installs never queues in front of the daily reconcile:
its event source's concurrency is its own (``deploy/resources.json``), and the reconcile queue's consumers never
wait behind it (docs/capacity.md). Backfill jobs queued on the reconcile queue before this queue existed are still
run there (``handlers.reconcile``).
"""

from __future__ import annotations

from chalicelib.domain.queue_messages import BACKFILL_QUEUE
from chalicelib.handlers import install_jobs
from chalicelib.handlers.lambda_entry import SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.handlers.sqs_batch import answer, parse_records


@lambda_entry(SQS_FIRST_MESSAGE)
def handle(event: dict, context) -> dict:
    """Run a batch of backfill jobs; returns ``{"batchItemFailures": [...]}`` naming the failed and the rejected."""
    parsed = parse_records(event, BACKFILL_QUEUE)
    return answer(event, parsed.rejected + install_jobs.work(parsed.received, context))

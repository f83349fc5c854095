"""Entry points: the daily schedule starts a reconcile run over every seller; the reconcile queue's worker plans it
shard by shard and reconciles the sellers (``services.jobs.reconcile_seller``), answering SQS in the partial-batch
shape like the review worker: the template sets ``ReportBatchItemFailures`` on its event source (see
docs/reliability.md).
"""

from __future__ import annotations

from chalicelib.domain.queue_messages import RECONCILE_QUEUE
from chalicelib.handlers import install_jobs, job_queue
from chalicelib.handlers.lambda_entry import SCHEDULED, SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.handlers.sqs_batch import answer, parse_records
from chalicelib.services.jobs.reconcile_seller import JOB

# One seller's reconcile is three paged marketplace reads and their retries.
SELLER_BUDGET_MS = 20_000


@lambda_entry(SCHEDULED)
def fan_out(event: dict, context) -> dict:
    """The daily schedule: start the run (its plan messages); a failure raises so the same run is retried."""
    return job_queue.start(JOB, event)


@lambda_entry(SQS_FIRST_MESSAGE)
def handle(event: dict, context) -> dict:
    """The reconcile queue's router: each record parsed once, the run's plan and seller messages to the job, the
    jobs authorizations start to ``install_jobs`` (the permits, and backfill jobs queued here before the backfill
    queue existed); returns ``{"batchItemFailures": [...]}`` naming the failed."""
    parsed = parse_records(event, RECONCILE_QUEUE)
    install = [one for one in parsed.received if install_jobs.is_install_job(one.message)]
    run = [one for one in parsed.received if not install_jobs.is_install_job(one.message)]
    failed = install_jobs.work(install, context)
    failed += job_queue.serve(JOB, run, context, seller_budget_ms=SELLER_BUDGET_MS)
    return answer(event, parsed.rejected + failed)

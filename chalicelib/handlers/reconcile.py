"""Entry points: the daily schedule starts a reconcile run over every seller; the reconcile queue's worker plans it
shard by shard and reconciles the sellers (``services.jobs.reconcile_seller``), answering SQS in the partial-batch
shape like the review worker: the template sets ``ReportBatchItemFailures`` on its event source (see
docs/reliability.md).
"""

from __future__ import annotations

from chalicelib.handlers import install_jobs, job_queue
from chalicelib.handlers.lambda_entry import SCHEDULED, SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.services.jobs.reconcile_seller import JOB

# One seller's reconcile is three paged marketplace reads and their retries.
SELLER_BUDGET_MS = 20_000


@lambda_entry(SCHEDULED)
def fan_out(event: dict, context) -> dict:
    """The daily schedule: start the run (its plan messages); a failure raises so the same run is retried."""
    return job_queue.start(JOB, event)


@lambda_entry(SQS_FIRST_MESSAGE)
def handle(event: dict, context) -> dict:
    """Process an SQS batch of the run's messages and of the jobs authorizations start (``install_jobs``); returns
    ``{"batchItemFailures": [...]}`` naming the failed."""
    install, rest = install_jobs.split(event)
    failed = install_jobs.work(install, context)["batchItemFailures"] if install["Records"] else []
    if rest["Records"]:
        failed += job_queue.work(JOB, rest, context, seller_budget_ms=SELLER_BUDGET_MS)["batchItemFailures"]
    return {"batchItemFailures": failed}

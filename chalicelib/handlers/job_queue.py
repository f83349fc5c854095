"""Entry points shared by the per-seller jobs (tokens, billing, reconcile): the schedule starts a run, the job's
queue worker plans and serves it, message by message (``services.jobs.seller_jobs``)."""

from __future__ import annotations

from chalicelib.container import container
from chalicelib.domain.queue_messages import JOB_QUEUE, JobPlan, JobSellers
from chalicelib.handlers.lambda_entry import Deadline
from chalicelib.handlers.sqs_batch import PoisonJob, Received, answer, parse_records, process_batch, record_keys
from chalicelib.services.jobs import seller_jobs
from chalicelib.services.jobs.seller_jobs import JobMessageInvalid, Run, SellerJob

# What one seller (or one planned page) may take at most: a message stops serving when less than this is left
# of the invocation, and hands the rest on.
SELLER_BUDGET_MS = 10_000


def run_of(job: SellerJob, event: dict) -> Run:
    """The run an EventBridge event starts (named by the event's scheduled time)."""
    return seller_jobs.run_of(job, event.get("time"), now=container().clock.now())


def start(job: SellerJob, event: dict) -> dict:
    """The schedule: queue the run's plan messages; a failure raises so EventBridge retries the same run."""
    run = run_of(job, event)
    return {"job": job.name, "run": run.id, "plans": seller_jobs.start(job, run)}


def work(job: SellerJob, event: dict, context, *, seller_budget_ms: int = SELLER_BUDGET_MS) -> dict:
    """An SQS batch of the job's queue (its router: plan and seller messages); returns
    ``{"batchItemFailures": [...]}`` naming the failed ones."""
    parsed = parse_records(event, JOB_QUEUE)
    return answer(event, parsed.rejected + serve(job, parsed.received, context, seller_budget_ms=seller_budget_ms))


def serve(job: SellerJob, received: list[Received], context, *, seller_budget_ms: int = SELLER_BUDGET_MS) -> list[str]:
    """Plan or serve the job's messages of a batch; returns the message ids of those that failed."""
    deadline = Deadline(context, seller_budget_ms)

    def handle(message: JobPlan | JobSellers) -> None:
        record_keys(job=job.name, run=message.run)
        try:
            seller_jobs.handle_message(job, message, now=container().clock.now(), out_of_time=deadline.near)
        except JobMessageInvalid as exc:
            raise PoisonJob(str(exc)) from None

    # Every record is started (no start-of-record deadline): one that finds too little time left hands its whole
    # work on as a new message, instead of failing and counting a receive towards the dead-letter queue.
    return process_batch(received, context, handle, record_budget_ms=0)

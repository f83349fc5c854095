"""Entry points shared by the per-seller jobs (tokens, billing, reconcile): the schedule starts a run, the job's
queue worker plans and serves it, message by message (``services.jobs.seller_jobs``)."""

from __future__ import annotations

import json

from chalicelib.container import container
from chalicelib.handlers.lambda_entry import Deadline
from chalicelib.handlers.sqs_batch import PoisonJob, process_batch, record_keys
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
    """An SQS batch of the job's messages; returns ``{"batchItemFailures": [...]}`` naming the failed ones."""
    deadline = Deadline(context, seller_budget_ms)

    def record_handler(record) -> None:
        try:
            body = json.loads(record.body)
            if not isinstance(body, dict):
                raise JobMessageInvalid("not an object")
        except (ValueError, JobMessageInvalid) as exc:
            raise PoisonJob(f"bad {job.name} message: {type(exc).__name__}") from None
        record_keys(job=job.name, run=body.get("run"))
        try:
            seller_jobs.handle_message(job, body, now=container().clock.now(), out_of_time=deadline.near)
        except JobMessageInvalid as exc:
            raise PoisonJob(str(exc)) from None

    # Every record is started (no start-of-record deadline): one that finds too little time left hands its whole
    # work on as a new message, instead of failing and counting a receive towards the dead-letter queue.
    return process_batch(event, context, record_handler, record_budget_ms=0)

"""Entry points: the hourly EventBridge schedule starts a token refresh run; the tokens queue's worker does it
for the sellers whose tokens expire soon (``services.jobs.refresh_tokens``)."""

from __future__ import annotations

from chalicelib.handlers import job_queue
from chalicelib.handlers.lambda_entry import SCHEDULED, SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.services.jobs.refresh_tokens import JOB


@lambda_entry(SCHEDULED)
def handle(event: dict, context) -> dict:
    """Start one refresh run; returns the run and how many plan messages it queued."""
    return job_queue.start(JOB, event)


@lambda_entry(SQS_FIRST_MESSAGE)
def work(event: dict, context) -> dict:
    """Plan or refresh a batch of the run's messages (partial batch response)."""
    return job_queue.work(JOB, event, context)

"""Entry point (part of the reconcile queue's worker): the jobs an authorization starts — the permit of the seller's
messages (``services.onboarding.message_permits``) and the install backfill (``services.onboarding.backfill``).

They travel the reconcile queue with the daily reconcile's messages and are told apart by their ``kind``; each
record is one permit or one page of one seller's backfill, answered in the partial-batch shape like every queue
worker.
"""

from __future__ import annotations

import json

from chalicelib.container import container
from chalicelib.handlers.sqs_batch import PoisonJob, process_batch
from chalicelib.services.onboarding.backfill import BackfillJobInvalid, Job, is_backfill_message, run_job
from chalicelib.services.onboarding.message_permits import PermitJobInvalid, is_permit_message, run_permit_job

# One page of trades: a trades read, a rating read per buyer-rated trade, and their task writes.
RECORD_BUDGET_MS = 40_000


def _body(record: dict) -> object:
    try:
        return json.loads(record.get("body") or "")
    except (ValueError, RecursionError):
        return None


def _is_install_message(body: object) -> bool:
    return is_backfill_message(body) or is_permit_message(body)


def split(event: dict) -> tuple[dict, dict]:
    """The event's install records (permits, backfill pages) and the other records, each as an event of its own."""
    mine, rest = [], []
    for record in event.get("Records") or []:
        (mine if _is_install_message(_body(record)) else rest).append(record)
    return {**event, "Records": mine}, {**event, "Records": rest}


def _record_handler(record) -> str:
    try:
        body = json.loads(record.body)
        if is_permit_message(body):
            return run_permit_job(body, now=container().clock.now())
        job = Job.from_message(body)
    except (ValueError, BackfillJobInvalid, PermitJobInvalid) as exc:
        raise PoisonJob(str(exc)) from None
    return run_job(job, now=container().clock.now())


def work(event: dict, context) -> dict:
    """Run the install records of a batch; ``{"batchItemFailures": [...]}`` names the failed ones."""
    return process_batch(event, context, _record_handler, record_budget_ms=RECORD_BUDGET_MS)

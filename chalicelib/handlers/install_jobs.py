"""Entry point (part of the reconcile and backfill queues' workers): the jobs an authorization starts — the permit of
the seller's messages (``services.onboarding.message_permits``) and the install backfill
(``services.onboarding.backfill``).

A permit travels the reconcile queue, whose router (``handlers.reconcile``) hands it here by its ``kind``; the
backfill's jobs travel their own queue (``handlers.backfill``), and those queued on the reconcile queue before it
existed still come here through the reconcile router. Each record is one permit or one page of one seller's backfill.
"""

from __future__ import annotations

from chalicelib.container import container
from chalicelib.domain.queue_messages import BackfillJob, PermitJob
from chalicelib.handlers.sqs_batch import Received, process_batch
from chalicelib.services.onboarding.backfill import Job, run_job
from chalicelib.services.onboarding.message_permits import run_permit_job

# One page of trades: a trades read, a rating read per buyer-rated trade, and their task writes.
RECORD_BUDGET_MS = 40_000


def is_install_job(message: object) -> bool:
    """Whether a reconcile-queue message is one of the jobs an authorization starts."""
    return isinstance(message, PermitJob | BackfillJob)


def _handle(message: PermitJob | BackfillJob) -> str:
    if isinstance(message, PermitJob):
        return run_permit_job(message, now=container().clock.now())
    return run_job(Job.from_message(message), now=container().clock.now())


def work(received: list[Received], context) -> list[str]:
    """Run the install jobs of a batch; returns the message ids of those that failed."""
    return process_batch(received, context, _handle, record_budget_ms=RECORD_BUDGET_MS)

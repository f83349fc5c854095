"""Use case: queue a review job the moment its task becomes due, so "immediate" means seconds, not the next sweep.

A task due now, or within SQS's delay limit (a retry a few minutes out), is queued when it is written, with
``DelaySeconds`` for the wait; inside ``batched()`` (one push, one reconciled seller) the jobs go out together,
ten to a request. The worker's claim is conditional as always, so a job that arrives early, twice, or after the
sweep's own job for the task changes nothing. The sweep stays the safety net: a job that could not be sent
here is found there when due.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from chalicelib.container import container
from chalicelib.domain.queue_messages import ReviewJob
from chalicelib.services.rules import rules_in_force
from chalicelib.store import queues
from chalicelib.telemetry import count, logger

_collecting: ContextVar[list[queues.Delayed] | None] = ContextVar("review_jobs_collecting", default=None)


def queue_when_due(seller_id: str, tid: str, due_at: datetime, *, now: datetime) -> bool:
    """Queue the task's job now if it is due within SQS's delay limit (delivered when due); True if queued."""
    wait = (due_at - now).total_seconds()
    if wait > queues.MAX_DELAY_SECONDS:
        return False
    job = queues.Delayed(ReviewJob(seller_id=seller_id, tid=tid).body(), math.ceil(max(0.0, wait)))
    pending = _collecting.get()
    if pending is not None:
        pending.append(job)
    else:
        _send([job])
    return True


@contextmanager
def batched() -> Iterator[None]:
    """Collect the jobs queued inside the block and send them when it ends, in batches of ten."""
    token = _collecting.set([])
    try:
        yield
    finally:
        pending = _collecting.get() or []
        _collecting.reset(token)
        if pending:
            _send(pending)


def _send(jobs: list[queues.Delayed]) -> None:
    try:
        # A push's or a seller's jobs go out from the sweep's senders: ten batches wait about one round trip.
        queues.send_jobs(container().settings.review_queue_url, jobs, senders=rules_in_force().sweep_senders)
    except Exception as exc:
        # The tasks are stored and due: the sweep queues them within a minute.
        count("ImmediateQueueFailed", len(jobs))
        logger.warning("review jobs left to the sweep", extra={"jobs": len(jobs), "error": type(exc).__name__})
        return
    count("ReviewsQueuedAtOnce", len(jobs))

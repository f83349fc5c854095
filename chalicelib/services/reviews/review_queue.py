"""Use case: queue a review job the moment its task becomes due, so "immediate" means seconds, not the next sweep.

A task due now, or within SQS's delay limit (a retry a few minutes out), is queued when it is written, with
``DelaySeconds`` for the wait; inside ``batched()`` (one push, one reconciled seller) the jobs go out together,
ten to a request. The worker's claim is conditional as always, so a job that arrives early, twice, or after the
sweep's own job for the task changes nothing.

A new review queued at once is written outside the ``due`` index (``tasks.create(in_due_index=False)``): its
message on the queue is its way to the worker, and SQS keeps the message until a worker is done with it. The
index entry a task would otherwise get at creation and lose when recorded costs two of a review's write units.
Where a job can still be lost, the task is put into the index (``rescue``) and the sweep takes it from there:
a send that fails; a job that meets the task not yet due or claimed by another (``post_review``); a worker
that gives the job back to the queue after an error (the queue may give up on it); a duplicate push of the
trade finds it waiting (the push before may have died before sending) and queues it again; the daily
reconcile finds it waiting long past its time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.container import container
from chalicelib.domain.queue_messages import ReviewJob
from chalicelib.services.rules import rules_in_force
from chalicelib.store import queues, tasks
from chalicelib.store.models import Task
from chalicelib.telemetry import count, logger

# How long past its time a task outside the due index must wait before the reconcile calls it stranded (its job
# was lost) rather than on its way: longer than a job takes to be claimed (seconds), shorter than the reconcile
# queue's redelivery (its 6-minute visibility timeout), so a reconcile that died before sending its jobs rescues
# their tasks when SQS delivers it again.
STRANDED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class _Pending:
    job: queues.Delayed
    # (seller_id, tid, due_at) of a task outside the due index: indexed if its job cannot be sent.
    unindexed: tuple[str, str, datetime] | None


_collecting: ContextVar[list[_Pending] | None] = ContextVar("review_jobs_collecting", default=None)


def at_once(due_at: datetime, *, now: datetime) -> bool:
    """Whether a task due at ``due_at`` is queued when it is written (due within SQS's delay limit)."""
    return (due_at - now).total_seconds() <= queues.MAX_DELAY_SECONDS


def queue_when_due(seller_id: str, tid: str, due_at: datetime, *, now: datetime, in_due_index: bool = True) -> bool:
    """Queue the task's job now if it is due within SQS's delay limit (delivered when due); True if queued.

    ``in_due_index=False``: the task is outside the due index, which it joins if the job cannot be sent.
    """
    if not at_once(due_at, now=now):
        return False
    wait = (due_at - now).total_seconds()
    job = queues.Delayed(ReviewJob(seller_id=seller_id, tid=tid).body(), math.ceil(max(0.0, wait)))
    pending = _Pending(job, None if in_due_index else (seller_id, tid, due_at))
    collecting = _collecting.get()
    if collecting is not None:
        collecting.append(pending)
    else:
        _send([pending])
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


def rescue(task: Task) -> bool:
    """Put a task waiting outside the due index into it, due when its time comes or its claim lapses, so the
    sweep queues it if its job is lost; True if it was put there (nothing is written for any other task)."""
    if not tasks.outside_due_index(task):
        return False
    at = datetime.fromtimestamp(_waits_until(task), UTC)
    indexed = tasks.index_due(task.seller_id, task.tid, at, shards=container().settings.due_shards)
    if indexed:
        count("ReviewJobRescued")
    return indexed


def stranded(task: Task, *, now: datetime) -> bool:
    """Whether ``task`` waits outside the due index long past its time: its job was lost on the way."""
    return tasks.outside_due_index(task) and _waits_until(task) <= (now - STRANDED_AFTER).timestamp()


def _waits_until(task: Task) -> int:
    # A waiting task is due for a worker when its time has come and any claim on it has lapsed (epoch seconds).
    return max(task.due_at or 0, task.claimed_until or 0)


def _send(pending: list[_Pending]) -> None:
    try:
        # A push's or a seller's jobs go out from the sweep's senders: ten batches wait about one round trip.
        queues.send_jobs(
            container().settings.review_queue_url, [p.job for p in pending], senders=rules_in_force().sweep_senders
        )
    except Exception as exc:
        count("ImmediateQueueFailed", len(pending))
        logger.warning("review jobs left to the sweep", extra={"jobs": len(pending), "error": type(exc).__name__})
        _index_unsent(pending)
        return
    count("ReviewsQueuedAtOnce", len(pending))


def _index_unsent(pending: list[_Pending]) -> None:
    # The tasks are stored; those outside the due index join it, so the sweep queues them within a minute (some
    # of their jobs may have gone out: a second job meets a claim already taken). If this fails too, the caller's
    # unit of work fails: a push is then delivered again and queues its waiting tasks anew.
    shards = container().settings.due_shards
    for p in pending:
        if p.unindexed is not None:
            seller_id, tid, due_at = p.unindexed
            tasks.index_due(seller_id, tid, due_at, shards=shards)

"""Use case: answer a buyer's neutral/bad rating with the seller's explanation — queued, never sent here.

The reply becomes an explanation task (``store.tasks.create_explanation``), due now and queued at once; the review
worker sends it through the one write path (``services.reviews.post_review``): claim, the write guard with the seller's
real hour counts, the one classification of the marketplace's answer, the audit record. So no push or API
request ever waits on the marketplace, and a throttle, an invalid session or a transient error is handled as it
is for a review. A redelivered rating, or a second click, finds the task and queues nothing more.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import container
from chalicelib.domain.task_state import State
from chalicelib.services.reviews import review_queue
from chalicelib.store import tasks
from chalicelib.store.models import Task
from chalicelib.telemetry import count, logger

# What ``explain`` answers: queued now; waiting or being sent already; sent before; nothing to send.
QUEUED = "queued"
ALREADY_QUEUED = "already_queued"
ALREADY_EXPLAINED = "already_explained"
NOTHING = "nothing_to_explain"


def explain(seller_id: str, task: Task, *, now: datetime, text: str) -> str:
    """Queue ``text`` as the explanation of ``task``'s rating (at most one per trade); returns what became of it.

    ``text`` is the reply exactly as it will be posted (a template already rendered, or the seller's own words,
    which are plain text). A reply whose earlier explanation task failed is queued again with the new text.
    """
    if not task.oid or not text.strip():
        return NOTHING
    shards = container().settings.due_shards
    rated_at = datetime.fromtimestamp(task.buyer_rated_at, now.tzinfo) if task.buyer_rated_at else now
    created = tasks.create_explanation(
        seller_id,
        task.tid,
        oid=task.oid,
        content=text,
        trade_end=datetime.fromtimestamp(task.trade_end, now.tzinfo),
        rated_at=rated_at,
        now=now,
        shards=shards,
    )
    if not created and tasks.requeue_explanation(seller_id, task.tid, content=text, now=now, shards=shards) is None:
        existing = tasks.get(seller_id, tasks.explanation_tid(task.tid))
        return ALREADY_EXPLAINED if existing is not None and existing.state == State.POSTED.value else ALREADY_QUEUED
    review_queue.queue_when_due(seller_id, tasks.explanation_tid(task.tid), now, now=now)
    count("ExplanationQueued")
    logger.info("explanation queued", extra={"seller_id": seller_id, "tid": task.tid})
    return QUEUED

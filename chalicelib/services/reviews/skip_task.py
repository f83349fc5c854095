"""Use case: a review that will not be posted (refunded, the buyer rated neutral or bad) is skipped once, with its
audit record, and counted in the seller's day."""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import container
from chalicelib.domain.market_time import market_date
from chalicelib.domain.task_state import Event
from chalicelib.store import stats, tasks
from chalicelib.store.audit import skip_record
from chalicelib.store.models import Task


def skip_task(task: Task, reason: str, *, now: datetime) -> bool:
    """Skip ``task`` for ``reason`` (one conditional transition that lifts its holds) and count it in the seller's
    day; False when the task had already moved on."""
    done = tasks.transition(
        task.seller_id,
        task.tid,
        Event.SKIP,
        now=now,
        shards=container().settings.due_shards,
        reason=reason,
        fields={"holds": None},
        audit=skip_record(task.seller_id, task.tid, reason, now=now),
    )
    if done is None:
        return False
    stats.bump(task.seller_id, stats.day_bucket(market_date(now).isoformat()), {f"skipped_{reason}": 1}, now=now)
    return True

"""Use case: every minute, send the tasks that are due to the review queue (never scanning the table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.config import get_settings
from chalicelib.store import control, queues, tasks
from chalicelib.telemetry import count, logger


@dataclass(frozen=True)
class SweepResult:
    """How many jobs were queued, or why the sweep stood still."""

    queued: int
    paused: str | None = None


def sweep(*, now: datetime) -> SweepResult:
    """Query each due shard for ``due_at <= now`` page by page and queue one job per task.

    Cost grows with the number of due tasks, not with the table. Stale claims are due again (their
    ``due_at`` is the claim's expiry), so a task whose worker died is picked up here too.
    """
    switches = control.read_switches(fresh=True)
    if switches.kill_global:
        count("SweepKilled")
        return SweepResult(0, "kill_switch")
    if switches.paused(now):
        count("SweepPaused")
        return SweepResult(0, "quota_pause")
    settings = get_settings()
    queued = 0
    for shard in range(settings.due_shards):
        jobs = ({"seller_id": seller_id, "tid": tid} for seller_id, tid in tasks.due_keys(shard, now))
        queued += queues.send_jobs(settings.review_queue_url, jobs)
    count("TasksQueued", queued)
    if queued:
        logger.info("sweep queued", extra={"queued": queued})
    return SweepResult(queued)

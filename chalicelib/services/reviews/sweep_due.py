"""Use case: every minute, send the tasks that are due to the review queue (never scanning the table)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice

from chalicelib.container import container
from chalicelib.domain.queue_messages import ReviewJob
from chalicelib.services.rules import rules_in_force
from chalicelib.store import control, queues, tasks
from chalicelib.store.shard_reads import each_shard
from chalicelib.telemetry import count, logger


@dataclass(frozen=True)
class SweepResult:
    """How many jobs were queued, or why the sweep stood still."""

    queued: int
    paused: str | None = None


# A shard is not started with less than this left of the invocation: the rest is due again next minute.
SWEEP_RESERVE_MS = 5_000
TICK_SECONDS = 60  # EventBridge runs the sweep every minute


def tick_budget(review_capacity_per_second: float) -> int:
    """Jobs one sweep may queue: a minute of the workers' capacity."""
    return max(1, int(review_capacity_per_second * TICK_SECONDS))


def sweep(*, now: datetime, out_of_time: Callable[[], bool] = lambda: False) -> SweepResult:
    """Query each due shard for ``due_at <= now`` page by page and queue one job per task.

    Every shard's first page is read at once, from ``sweep_senders`` threads: a tick waits about one round
    trip for them, not one per shard.

    Cost grows with the number of due tasks, not with the table. A task whose worker died is due again once
    its claim lapses (the claim never leaves the index), so it is picked up here too. At most a minute of the
    workers' capacity (rules: ``review_capacity_per_second``) is queued, sent from ``sweep_senders`` threads;
    the first shard rotates with the minute, so under a backlog every shard gets its turn and none starves.
    Tasks due at once when they were made were queued then (``schedule_review``): for them this is the safety
    net, and a duplicate job only meets a claim that is already taken.
    """
    switches = control.read_switches(fresh=True)
    if switches.kill_global:
        count("SweepKilled")
        return SweepResult(0, "kill_switch")
    if switches.paused(now):
        count("SweepPaused")
        return SweepResult(0, "quota_pause")
    settings = container().settings
    rules = rules_in_force()
    budget = tick_budget(rules.review_capacity_per_second)
    first = int(now.timestamp() // 60) % settings.due_shards
    order = [(first + step) % settings.due_shards for step in range(settings.due_shards)]
    queued = 0
    for head, rest in each_shard(lambda shard: _first_page(shard, now), order, at_once=rules.sweep_senders):
        if out_of_time():
            count("SweepStoppedNearDeadline")
            break
        keys = islice(chain(head, rest), budget - queued)
        jobs = (ReviewJob(seller_id=s, tid=t).body() for s, t in keys)
        queued += queues.send_jobs(settings.review_queue_url, jobs, senders=rules.sweep_senders)
        if queued >= budget:
            count("SweepBudgetReached")
            break
    count("TasksQueued", queued)
    if queued:
        logger.info("sweep queued", extra={"queued": queued})
    return SweepResult(queued)


def _first_page(shard: int, now: datetime) -> tuple[list[tuple[str, str]], Iterator[tuple[str, str]]]:
    # Every shard's first page is read at once; the pages after it (a backlog) are read as the sends go.
    keys = tasks.due_keys(shard, now)
    return list(islice(keys, tasks.DUE_PAGE)), keys

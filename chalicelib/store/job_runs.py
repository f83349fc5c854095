"""Which sellers a run of a per-seller job has served: one marker per (run, seller), written after the seller is
done, read back for a whole batch of sellers at once before any is started.

A queue message may come twice (SQS delivers at least once, a crashed planner plans a page again): the
markers make the second delivery skip the sellers the first one finished, so a run serves each seller once.
Markers expire two weeks after their run; a run's report is read back from them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from chalicelib.store.conditional import save_if
from chalicelib.store.models import JobRun
from chalicelib.store.sellers import SELLER_SHARDS, seller_shard

RETENTION = timedelta(days=14)


def _run_key(job: str, run: str, shard: int) -> str:
    return f"{job}#{run}#{shard}"


def served(job: str, run: str, seller_ids: Iterable[str]) -> set[str]:
    """The sellers of ``seller_ids`` this run has already served (consistent BatchGetItem, 100 keys a request)."""
    keys = [(_run_key(job, run, seller_shard(s)), s) for s in dict.fromkeys(seller_ids)]
    if not keys:
        return set()
    return {
        item.seller_id for item in JobRun.batch_get(keys, consistent_read=True, attributes_to_get=["run", "seller_id"])
    }


def mark_served(job: str, run: str, seller_id: str, outcome: dict[str, int], *, now: datetime) -> bool:
    """Record that the run served the seller; False when another delivery recorded it first."""
    marker = JobRun(
        _run_key(job, run, seller_shard(seller_id)),
        seller_id,
        outcome=outcome,
        done_at=int(now.timestamp()),
        expire_at=now + RETENTION,
    )
    return save_if(marker, condition=JobRun.seller_id.does_not_exist())


def report(job: str, run: str) -> tuple[int, Counter]:
    """How many sellers the run served, and its outcome counts summed (one Query per shard; for operators,
    tests and the bench, never on a scheduled path)."""
    sellers, totals = 0, Counter()
    for shard in range(SELLER_SHARDS):
        for marker in JobRun.query(_run_key(job, run, shard)):
            sellers += 1
            totals.update(marker.outcome or {})
    return sellers, totals

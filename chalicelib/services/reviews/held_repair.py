"""Use case (daily): find and repair a held task left holding nothing.

Lifting the last hold is one conditional write (``store.tasks.remove_hold``), so no crash can leave a task held
for nothing any more; a task written otherwise (an earlier version's two writes, a hand edit) would wait forever
and answer the seller's retry with "held for ". The check pages the sparse ``held`` index (never a Scan), and
schedules each such task again, due now: the worker posts it or, when its window closed meanwhile, expires it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from chalicelib.container import container
from chalicelib.store import audit, tasks
from chalicelib.telemetry import count, logger


def repair_holdless(*, now: datetime, stop: Callable[[], bool] = lambda: False) -> int:
    """Schedule every held task that holds nothing; returns how many. ``stop`` ends the pass early (the
    invocation's deadline): the next day's pass finds the rest."""
    shards = container().settings.due_shards
    repaired = 0
    for shard in range(tasks.HELD_SHARDS):
        for task in tasks.held_without_holds(shard):
            if stop():
                return repaired
            if tasks.release_holdless(task.seller_id, task.tid, now=now, shards=shards) is None:
                continue  # it changed since it was read
            audit.append(
                task.seller_id,
                actor="repair",
                action="task.hold_repaired",
                target=task.tid,
                result="scheduled",
                detail=None,
                now=now,
            )
            logger.warning("held task without holds repaired", extra={"seller_id": task.seller_id, "tid": task.tid})
            repaired += 1
    count("HeldWithoutHoldsRepaired", repaired)
    return repaired

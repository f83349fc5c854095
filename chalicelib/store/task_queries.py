"""Read-side task queries: one seller's tasks newest first (the seller API), failed tasks by day (operators).

Both read a keys-only index and then fetch the items with one BatchGetItem per chunk, so listing never
scans a table and task transitions never pay for an index copy of the item.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from chalicelib.store.models import Task
from chalicelib.store.tasks import is_explanation, is_memo

# Index entries examined per request at most: a selective state filter returns a short page and a cursor
# instead of reading a big seller's whole history in one call.
EXAMINE_BUDGET = 500
BATCH_GET = 100  # BatchGetItem's key limit

TaskKey = tuple[int, str]  # (trade_end, tid): a position in a seller's by_trade_end index


@dataclass(frozen=True)
class TaskPage:
    """Tasks of one page, newest first, and the position to continue after (None: nothing more)."""

    tasks: list[Task]
    next_key: TaskKey | None


def _start_key(seller_id: str, after: TaskKey) -> dict:
    trade_end, tid = after
    return {"seller_id": {"S": seller_id}, "tid": {"S": tid}, "trade_end": {"N": str(int(trade_end))}}


def _range_condition(first: int | None, last: int | None):
    if first is not None and last is not None:
        return Task.trade_end.between(first, last)
    if first is not None:
        return Task.trade_end >= first
    if last is not None:
        return Task.trade_end <= last
    return None


def fetch(seller_id: str, tids: Iterable[str]) -> dict[str, Task]:
    """The seller's tasks with these ids (missing ones are absent), by tid, in BatchGetItem chunks."""
    wanted = list(dict.fromkeys(tids))
    found: dict[str, Task] = {}
    for i in range(0, len(wanted), BATCH_GET):
        for task in Task.batch_get([(seller_id, tid) for tid in wanted[i : i + BATCH_GET]]):
            found[task.tid] = task
    return found


def page_by_trade_end(
    seller_id: str,
    *,
    limit: int,
    first: int | None = None,
    last: int | None = None,
    after: TaskKey | None = None,
    states: Collection[str] | None = None,
    budget: int = EXAMINE_BUDGET,
) -> TaskPage:
    """One page of a seller's tasks, newest trade first, within ``[first, last]`` (epoch seconds).

    ``after`` continues from a previous page's ``next_key``; ``states`` keeps only tasks in those states.
    At most ``budget`` index entries are read, so a filtered page may hold fewer than ``limit`` tasks and
    still name a ``next_key``.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    found: list[Task] = []
    examined = 0
    start = _start_key(seller_id, after) if after else None
    condition = _range_condition(first, last)
    while examined < budget:
        want = min(limit - len(found) if states is None else max(limit, 50), budget - examined)
        result = Task.by_trade_end.query(
            seller_id, condition, scan_index_forward=False, limit=want, last_evaluated_key=start
        )
        keys = [(item.trade_end, item.tid) for item in result]
        items = fetch(seller_id, (tid for _, tid in keys if not (is_explanation(tid) or is_memo(tid))))
        for position, key in enumerate(keys):
            examined += 1
            task = items.get(key[1])
            # An explanation task (not fetched) is the reply to a rating, not a review: the list shows reviews.
            if task is not None and (states is None or task.state in states):
                found.append(task)
            if len(found) == limit:
                more = position < len(keys) - 1 or result.last_evaluated_key is not None
                return TaskPage(found, key if more else None)
        start = result.last_evaluated_key
        if start is None or not keys:
            return TaskPage(found, None)
    return TaskPage(found, (int(start["trade_end"]["N"]), start["tid"]["S"]))


def failed_on_day(market_day: str, *, seller_id: str | None = None, limit: int = 100) -> list[tuple[str, str]]:
    """(seller_id, tid) of tasks that failed on ``market_day`` (GMT+8 ``YYYY-MM-DD``), most recent first.

    Reads the sparse ``failed`` index (failed tasks only); ``seller_id`` narrows it to one seller.
    """
    condition = Task.seller_id == seller_id if seller_id else None
    query = Task.by_failed_day.query(market_day, scan_index_forward=False, filter_condition=condition, limit=limit)
    return [(item.seller_id, item.tid) for item in query]


def fetch_keys(keys: Iterable[tuple[str, str]]) -> list[Task]:
    """Tasks by (seller_id, tid), in the order given (missing ones skipped); for operator listings."""
    wanted = list(dict.fromkeys(keys))
    found: dict[tuple[str, str], Task] = {}
    for i in range(0, len(wanted), BATCH_GET):
        for task in Task.batch_get(wanted[i : i + BATCH_GET]):
            found[(task.seller_id, task.tid)] = task
    return [found[key] for key in wanted if key in found]

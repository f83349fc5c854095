"""The bad-review center's records: a seller's neutral/bad buyer ratings, their triage and the seller's replies.

They live on the trade's task (``bad_rated_at``, ``rating_text``, ``triage``, ``explanation``); the sparse
``by_bad_rating`` index lists them newest first without reading the good ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.store.conditional import update_if
from chalicelib.store.models import Task
from chalicelib.store.task_queries import fetch

RatingKey = tuple[int, str]  # (bad_rated_at, tid): a position in the seller's by_bad_rating index
# Ratings read at most for one insight answer: a month of a large shop's neutral/bad ratings fits many times.
INSIGHT_BUDGET = 5000


@dataclass(frozen=True)
class RatingPage:
    """Rated tasks of one page, newest rating first, and the position to continue after (None: the end)."""

    tasks: list[Task]
    next_key: RatingKey | None


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def record_triage(seller_id: str, tid: str, *, text: str, triage: dict, now: datetime) -> bool:
    """Store the buyer's words and what they complain about; False if the task does not exist."""
    return update_if(
        Task(seller_id, tid),
        actions=[Task.rating_text.set(text), Task.triage.set(triage), Task.updated_at.set(_epoch(now))],
        condition=Task.tid.exists(),
    )


def record_explanation(seller_id: str, tid: str, *, state: str, text: str, now: datetime) -> bool:
    """Store the seller's reply and what became of it; a posted reply is never overwritten."""
    posted = Task.explanation["state"] == "explained"
    return update_if(
        Task(seller_id, tid),
        actions=[
            Task.explanation.set({"state": state, "text": text, "at": _epoch(now)}),
            Task.updated_at.set(_epoch(now)),
        ],
        condition=Task.tid.exists() & (Task.explanation.does_not_exist() | ~posted),
    )


def record_extortion_confirmed(seller_id: str, tid: str, *, now: datetime) -> bool:
    """Note that the seller confirmed the rating as extortion; False when it was confirmed before (or is gone)."""
    return update_if(
        Task(seller_id, tid),
        actions=[Task.extortion_confirmed_at.set(_epoch(now)), Task.updated_at.set(_epoch(now))],
        condition=Task.tid.exists() & Task.extortion_confirmed_at.does_not_exist(),
    )


def explanation_of(task: Task) -> dict | None:
    """The seller's reply stored on ``task`` as a plain dict (state, text, at), or None."""
    found = task.explanation
    if found is None:
        return None
    return found.as_dict() if hasattr(found, "as_dict") else dict(found)


def _range(first: int | None, last: int | None):
    if first is not None and last is not None:
        return Task.bad_rated_at.between(first, last)
    if first is not None:
        return Task.bad_rated_at >= first
    if last is not None:
        return Task.bad_rated_at <= last
    return None


def page(
    seller_id: str, *, limit: int, first: int | None = None, last: int | None = None, after: RatingKey | None = None
) -> RatingPage:
    """One page of the seller's neutral/bad ratings received in ``[first, last]`` (epoch seconds), newest first."""
    start = None
    if after:
        at, tid = after
        start = {"seller_id": {"S": seller_id}, "tid": {"S": tid}, "bad_rated_at": {"N": str(int(at))}}
    result = Task.by_bad_rating.query(
        seller_id, _range(first, last), scan_index_forward=False, limit=limit, last_evaluated_key=start
    )
    keys = [(int(item.bad_rated_at), item.tid) for item in result]
    found = fetch(seller_id, (tid for _, tid in keys))
    tasks = [found[tid] for _, tid in keys if tid in found]
    more = result.last_evaluated_key is not None and len(keys) == limit
    return RatingPage(tasks, keys[-1] if more and keys else None)


def received_between(seller_id: str, first: int, last: int, *, budget: int = INSIGHT_BUDGET) -> list[Task]:
    """Every neutral/bad rating received in ``[first, last]`` (at most ``budget``), newest first."""
    tids = []
    for item in Task.by_bad_rating.query(seller_id, _range(first, last), scan_index_forward=False, limit=budget):
        tids.append(item.tid)
    found = fetch(seller_id, tids)
    return [found[tid] for tid in tids if tid in found]

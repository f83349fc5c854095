"""Use cases: a seller (or an operator) retries or cancels one review task, only where that makes sense.

Retry: a ``failed`` task, or one ``held`` for the seller's own review of a bad buyer rating, is scheduled
again now. Cancel: a ``scheduled`` or ``held`` task is skipped (``cancelled``). Anything else is refused
with the reason. Each change is one conditional write on the revision read, audited in the same
transaction, so two clicks or a worker racing the seller cannot both win.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from chalicelib.container import container
from chalicelib.domain import templates, timing
from chalicelib.domain.market_time import market_date
from chalicelib.domain.task_state import Event, State
from chalicelib.services.reviews.schedule_review import render_content
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_views import seller_view
from chalicelib.store import audit, stats, tasks
from chalicelib.store.models import Task
from chalicelib.telemetry import count

Action = Literal["retry", "cancel"]
SELLER_RETRYABLE_HOLD = "buyer_review"
CANCELLED = "cancelled"


class TaskNotFound(LookupError):
    """No task with this trade id in the seller's own partition (another seller's task is never visible)."""


class ActionRefused(Exception):
    """The task's state does not allow the action; ``code`` is stable, ``message`` tells the seller why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _refusal(task: Task, action: Action, now: datetime) -> ActionRefused | None:
    """Why ``action`` is not possible on ``task`` now (None when it is)."""
    state = State(task.state)
    holds = set(task.holds or ())
    if task.stub:
        return ActionRefused("awaiting_trade", "the trade's own message has not arrived yet")
    if action == "retry":
        # A held task holding nothing (it should not exist; the daily check repairs it) may be retried at once.
        if state is State.HELD and holds and holds != {SELLER_RETRYABLE_HOLD}:
            return ActionRefused(
                "held", f"the task is held for {', '.join(sorted(holds))}; it resumes by itself when that clears"
            )
        if state not in (State.FAILED, State.HELD):
            return ActionRefused(
                f"not_retryable_{state.value}",
                f"the task is {state.value}; only failed tasks and tasks held for your review can be retried",
            )
        if timing.is_window_closed(now, tasks.trade_end_of(task), rules_in_force()):
            return ActionRefused("window_closed", "the rating window of this trade has closed")
        return None
    if state is State.CLAIMED:
        return ActionRefused("in_progress", "the review is being posted right now")
    if state not in (State.SCHEDULED, State.HELD):
        return ActionRefused(f"not_cancellable_{state.value}", f"the task is already {state.value}")
    return None


def allowed_actions(task: Task, *, now: datetime) -> tuple[Action, ...]:
    """The actions the seller may take on ``task`` now (what the dashboard offers as buttons)."""
    return tuple(action for action in ("retry", "cancel") if _refusal(task, action, now) is None)


def _load(seller_id: str, tid: str) -> Task:
    task = tasks.get(seller_id, tid)
    if task is None:
        raise TaskNotFound("no such task among your trades")
    return task


def _fresh_content(seller_id: str, task: Task) -> dict:
    # Only a text the lint refused is rendered again, from the templates the seller has fixed since.
    if not (task.reason or "").startswith("lint"):
        return {}
    view = seller_view(seller_id)
    index, content = render_content(
        view.settings,
        tid=task.tid,
        variables=templates.variables_for(
            buyer_masked=task.buyer_masked or "",
            item_title=task.item_title or "",
            shop_name=view.seller.nick,
            trade_end=tasks.trade_end_of(task),
        ),
    )
    return {"content": content, "template_index": index}


def _record(seller_id: str, tid: str, action: str, actor: str, now: datetime, detail: dict):
    return audit.new_record(seller_id, actor=actor, action=action, target=tid, result="ok", detail=detail, now=now)


def retry_task(seller_id: str, tid: str, *, now: datetime, actor: str = "seller") -> Task:
    """Schedule a failed (or held-for-review) task again, due now, with a fresh attempt budget."""
    task = _load(seller_id, tid)
    refused = _refusal(task, "retry", now)
    if refused:
        raise refused
    fields = {"holds": None, "attempts": 0, **_fresh_content(seller_id, task)}
    record = _record(seller_id, tid, "task.retry", actor, now, {"from": task.state, "reason": task.reason})
    done = tasks.transition(
        seller_id,
        tid,
        Event.REQUEUE,
        now=now,
        shards=container().settings.due_shards,
        due_at=now,
        fields=fields,
        audit=record,
        expected_rev=int(task.rev or 0),
    )
    if done is None:
        raise ActionRefused("changed", "the task changed meanwhile; reload and try again")
    count("TaskRetried")
    return _load(seller_id, tid)


def cancel_task(seller_id: str, tid: str, *, now: datetime, actor: str = "seller") -> Task:
    """Skip a scheduled or held task for good (reason ``cancelled``); it is never posted."""
    task = _load(seller_id, tid)
    refused = _refusal(task, "cancel", now)
    if refused:
        raise refused
    record = _record(seller_id, tid, "task.cancel", actor, now, {"from": task.state})
    done = tasks.transition(
        seller_id,
        tid,
        Event.SKIP,
        now=now,
        shards=container().settings.due_shards,
        reason=CANCELLED,
        fields={"holds": None},
        audit=record,
        expected_rev=int(task.rev or 0),
    )
    if done is None:
        raise ActionRefused("changed", "the task changed meanwhile; reload and try again")
    stats.bump(seller_id, stats.day_bucket(market_date(now).isoformat()), {f"skipped_{CANCELLED}": 1}, now=now)
    count("TaskCancelled")
    return _load(seller_id, tid)

"""Task repository: conditional creation, the state machine's conditional transitions, the due-index queries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from chalicelib.domain.market_time import market_date
from chalicelib.domain.task_state import INDEXED, SOURCES, TARGETS, TERMINAL, Event, State
from chalicelib.store.conditional import save_if, transaction_condition_failed, update_if
from chalicelib.store.models import Audit, Task

# Finished tasks stay visible to the seller for this long, then DynamoDB's TTL removes them.
TERMINAL_RETENTION = timedelta(days=180)


def due_shard(seller_id: str, tid: str, shards: int) -> int:
    """Stable shard of a task in the sparse due index (spreads a big seller over all partitions)."""
    digest = hashlib.blake2b(f"{seller_id}|{tid}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % shards


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


# Held tasks are few (a lapsed plan, an open refund, a session to renew): a few partitions of the sparse ``held``
# index list them all, for the check that repairs a held task left without holds.
HELD_SHARDS = 4
# Tries at lifting a hold while other holds come and go on the same task.
HOLD_ATTEMPTS = 5


def held_shard(seller_id: str, tid: str) -> int:
    """The task's partition of the sparse ``held`` index."""
    return due_shard(seller_id, tid, HELD_SHARDS)


def _held_keys(seller_id: str, tid: str, now: datetime) -> list:
    # Present only while held: the ``held`` index finds every held task without a scan.
    return [Task.held_shard.set(held_shard(seller_id, tid)), Task.held_at.set(_epoch(now))]


def _not_held() -> list:
    return [Task.held_shard.remove(), Task.held_at.remove()]


@dataclass(frozen=True)
class NewTask:
    """The fields of a task as it is first written."""

    seller_id: str
    tid: str
    oid: str | None
    trade_end: datetime
    due_at: datetime
    state: State
    content: str | None
    template_index: int | None
    item_title: str | None
    buyer_hash: str | None
    buyer_uid_hash: str | None
    buyer_masked: str | None
    holds: frozenset[str] = frozenset()
    reason: str | None = None
    payment: int | None = None
    item_id: str | None = None
    wake_at: datetime | None = None  # a held task's time in the due index (see ``add_hold``)


def create(new: NewTask, *, now: datetime, shards: int, in_due_index: bool = True) -> bool:
    """Write the task once; False when a task for (seller, tid) already exists (a duplicate message).

    ``in_due_index=False`` keeps a scheduled task out of the ``due`` index (its ``due_at`` is kept, so claims
    work as ever): for a task whose job is queued at once, the queue's message is the task's way to the worker,
    and an index entry added now and removed when it is recorded would cost two write units per review for a
    net that ``services.reviews.review_queue`` casts only where a job can be lost.
    """
    task = Task(
        new.seller_id,
        new.tid,
        oid=new.oid,
        state=new.state.value,
        reason=new.reason,
        holds=set(new.holds) or None,
        trade_end=_epoch(new.trade_end),
        created_at=_epoch(now),
        updated_at=_epoch(now),
        attempts=0,
        content=new.content,
        template_index=new.template_index,
        item_title=new.item_title,
        buyer_hash=new.buyer_hash,
        buyer_uid_hash=new.buyer_uid_hash,
        buyer_masked=new.buyer_masked,
        payment=new.payment,
        item_id=new.item_id,
    )
    if new.state in INDEXED:
        task.due_at = _epoch(new.due_at)
        if in_due_index:
            task.due_shard = due_shard(new.seller_id, new.tid, shards)
    if new.state is State.HELD:
        task.held_shard, task.held_at = held_shard(new.seller_id, new.tid), _epoch(now)
        if new.wake_at is not None:
            task.due_shard = due_shard(new.seller_id, new.tid, shards)
            task.due_at = _epoch(new.wake_at)
    if new.state in TERMINAL:
        task.expire_at = now + TERMINAL_RETENTION
    return save_if(task, condition=Task.tid.does_not_exist())


def outside_due_index(task: Task) -> bool:
    """Whether ``task`` waits for a worker (scheduled or claimed) with no entry in the ``due`` index: only its
    queued job leads to it."""
    return task.state in {s.value for s in INDEXED} and task.due_shard is None


def index_due(seller_id: str, tid: str, at: datetime, *, shards: int) -> bool:
    """Put a task that waits outside the ``due`` index into it at ``at``, so the sweep queues it from then on;
    False when it is no longer waiting or is in the index already (nothing is written)."""
    return update_if(
        Task(seller_id, tid),
        actions=[Task.due_shard.set(due_shard(seller_id, tid, shards)), Task.due_at.set(_epoch(at))],
        condition=Task.state.is_in(*[s.value for s in INDEXED]) & Task.due_shard.does_not_exist(),
    )


def get(seller_id: str, tid: str) -> Task | None:
    """The task, or None."""
    try:
        return Task.get(seller_id, tid, consistent_read=True)
    except Task.DoesNotExist:
        return None


DUE_PAGE = 1000  # keys per page of the ``due`` index


def due_keys(shard: int, now: datetime, *, page_size: int = DUE_PAGE) -> Iterator[tuple[str, str]]:
    """(seller_id, tid) of tasks in ``shard`` due at or before ``now``, page by page until a page is empty."""
    for item in Task.due.query(shard, Task.due_at <= _epoch(now), page_size=page_size):
        yield item.seller_id, item.tid


def transition(
    seller_id: str,
    tid: str,
    event: Event,
    *,
    now: datetime,
    shards: int,
    due_at: datetime | None = None,
    reason: str | None = None,
    fields: dict | None = None,
    require_due: bool = False,
    add_attempt: bool = False,
    audit: Audit | None = None,
    expected_rev: int | None = None,
    also=None,
) -> Task | None:
    """Apply ``event`` with one conditional update; None when the task is not in a source state.

    ``require_due`` adds ``due_at <= now`` to the condition (claims), and for a claimed task that its claim has
    lapsed. The due index entry is kept in step with the target state: present for scheduled/claimed, removed
    otherwise. A claim keeps the entry as it is and records until when it holds (``due_at`` is then the claim's
    end) in ``claimed_until``: moving the entry would cost two index writes per review, and a sweep that meets
    a task whose claim still holds only queues a job the claim turns away. With ``audit`` the audit record is
    written in the same transaction, so a recorded write and its audit entry never part.
    """
    target = TARGETS[event]
    task = Task(seller_id, tid)
    actions = [Task.state.set(target.value), Task.updated_at.set(_epoch(now)), Task.rev.add(1)]
    if reason is not None:
        actions.append(Task.reason.set(reason))
    elif target in (State.SCHEDULED, State.CLAIMED):
        actions.append(Task.reason.remove())
    if target in INDEXED:
        if due_at is None:
            raise ValueError(f"{event.value} needs a due time")
        if event is Event.CLAIM:
            actions.append(Task.claimed_until.set(_epoch(due_at)))
        else:
            actions += [
                Task.due_shard.set(due_shard(seller_id, tid, shards)),
                Task.due_at.set(_epoch(due_at)),
                Task.claimed_until.remove(),
            ]
    else:
        actions += [Task.due_shard.remove(), Task.due_at.remove(), Task.claimed_until.remove()]
    if target in TERMINAL:
        actions.append(Task.expire_at.set(now + TERMINAL_RETENTION))
    else:
        actions.append(Task.expire_at.remove())
    actions += _held_keys(seller_id, tid, now) if target is State.HELD else _not_held()
    # Present only while failed: the sparse ``failed`` index lets operators find failures without a scan.
    if target is State.FAILED:
        actions.append(Task.failed_day.set(market_date(now).isoformat()))
    else:
        actions.append(Task.failed_day.remove())
    if add_attempt:
        actions.append(Task.attempts.add(1))
    for name, value in (fields or {}).items():
        attr = getattr(Task, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    condition = Task.state.is_in(*[s.value for s in SOURCES[event]])
    if expected_rev is not None:
        condition &= Task.rev == expected_rev
    if also is not None:  # a narrower condition of the caller's (the one hold left, a failed task only)
        condition &= also
    if require_due:
        condition &= (Task.due_at <= _epoch(now)) & (
            Task.claimed_until.does_not_exist() | (Task.claimed_until <= _epoch(now))
        )
    if audit is not None:
        return _transact(task, actions, condition, audit)
    if not update_if(task, actions=actions, condition=condition):
        return None
    return task


def _transact(task: Task, actions: list, condition, audit: Audit) -> Task | None:
    try:
        # The Task model's own connection (kept by the container, ``store.models._Model``): a new one per
        # transaction would build a botocore client each time, ~6 ms of CPU per posted review.
        with TransactWrite(connection=Task._get_connection().connection) as tx:
            tx.update(task, actions=actions, condition=condition)
            tx.save(audit, condition=Audit.ts_id.does_not_exist())
    except TransactWriteError as exc:
        if transaction_condition_failed(exc):
            return None
        raise
    # A transaction returns no attributes; re-reading would cost a read per review, so callers get the keys.
    return task


def _wake_keys(seller_id: str, tid: str, wake_at: datetime | None, shards: int) -> list:
    # A held task is out of the due index, unless it must be looked at again at ``wake_at`` (its rating window
    # closes while it waits): the sweep then sends it to the worker, which expires it.
    if wake_at is None:
        return [Task.due_shard.remove(), Task.due_at.remove()]
    return [Task.due_shard.set(due_shard(seller_id, tid, shards)), Task.due_at.set(_epoch(wake_at))]


def add_hold(
    seller_id: str, tid: str, hold: str, *, now: datetime, wake_at: datetime | None = None, shards: int = 1
) -> Task | None:
    """Hold an open task for ``hold`` (refund, plan_expired, reauth, guard, paused); holds accumulate. With
    ``wake_at`` the held task stays in the due index at that time (in one of ``shards``)."""
    task = Task(seller_id, tid)
    if not update_if(
        task,
        actions=[
            Task.state.set(State.HELD.value),
            Task.holds.add({hold}),
            Task.reason.set(hold),
            Task.updated_at.set(_epoch(now)),
            Task.rev.add(1),
            *_wake_keys(seller_id, tid, wake_at, shards),
            Task.claimed_until.remove(),
            *_held_keys(seller_id, tid, now),
        ],
        condition=Task.state.is_in(*[s.value for s in SOURCES[Event.HOLD]]),
    ):
        return None
    return task


def remove_hold(seller_id: str, tid: str, hold: str, *, now: datetime, shards: int, due_at: datetime) -> Task | None:
    """Lift one hold with one conditional write: the last hold goes together with the held state (the task is
    scheduled at ``due_at``, its holds removed, in the same update), any other just leaves the set. None when the
    task is not held for ``hold``. No crash between writes can leave a task held with no holds."""
    for _ in range(HOLD_ATTEMPTS):
        last = size(Task.holds) == 1
        released = transition(
            seller_id,
            tid,
            Event.RELEASE,
            now=now,
            shards=shards,
            due_at=due_at,
            fields={"holds": None},
            also=Task.holds.contains(hold) & last,
        )
        if released is not None:
            return released
        task = Task(seller_id, tid)
        others = (Task.state == State.HELD.value) & Task.holds.contains(hold) & (size(Task.holds) > 1)
        if update_if(
            task,
            actions=[Task.holds.delete({hold}), Task.updated_at.set(_epoch(now)), Task.rev.add(1)],
            condition=others,
        ):
            return task
        # Neither held: not held for this hold (any more), or another hold came or went between the two tries.
        current = get(seller_id, tid)
        if current is None or current.state != State.HELD.value or hold not in (current.holds or ()):
            return None
    return None


def _rating_actions(result: str, now: datetime) -> list:
    actions = [Task.buyer_rating.set(result), Task.buyer_rated_at.set(_epoch(now)), Task.updated_at.set(_epoch(now))]
    if result != "good":
        actions.append(Task.bad_rated_at.set(_epoch(now)))  # enters the bad-review center's sparse index
    return actions


def set_buyer_rating(seller_id: str, tid: str, result: str, *, now: datetime, applied: bool = False) -> Task | None:
    """Record the buyer's rating once; None when it was already recorded (a duplicate message).

    ``applied``: the rating has no effect on the task beyond being recorded, so it is marked applied in the same
    write (``mark_rating_applied`` would be a second write of the same item).
    """
    task = Task(seller_id, tid)
    actions = _rating_actions(result, now)
    if applied:
        actions.append(Task.rating_applied_at.set(_epoch(now)))
    if not update_if(
        task,
        actions=actions,
        condition=Task.tid.exists() & Task.buyer_rating.does_not_exist(),
    ):
        return None
    return task


def record_rating_and_release(
    seller_id: str, tid: str, result: str, *, now: datetime, due_at: datetime, read: Task
) -> Task | None:
    """Record a rating whose one effect is to release the waiting task (``read``, as read just before) to
    ``due_at``, and mark it applied: one write where recording, rescheduling and marking take three. None when the
    task changed since it was read (a rating recorded meanwhile, a claim, a hold): nothing is written."""
    task = Task(seller_id, tid)
    actions = [
        *_rating_actions(result, now),
        Task.rating_applied_at.set(_epoch(now)),
        Task.due_at.set(_epoch(due_at)),
        Task.rev.add(1),
    ]
    unchanged = (Task.rev == read.rev) & (Task.state == State.SCHEDULED.value) & Task.buyer_rating.does_not_exist()
    if not update_if(task, actions=actions, condition=unchanged & (Task.due_at > _epoch(due_at))):
        return None
    return task


def mark_rating_applied(seller_id: str, tid: str, *, now: datetime) -> None:
    """Note that every effect of the buyer's rating (alert, task action, triage) was done; until then a later
    reconcile applies the rating again (each effect is keyed or conditional, so a timeout loses none)."""
    update_if(
        Task(seller_id, tid),
        actions=[Task.rating_applied_at.set(_epoch(now))],
        condition=Task.tid.exists() & Task.rating_applied_at.does_not_exist(),
    )


def trade_end_of(task: Task) -> datetime:
    """The trade's end time as an aware datetime."""
    return datetime.fromtimestamp(task.trade_end, UTC)


def open_tasks(seller_id: str) -> Iterator[Task]:
    """A seller's scheduled, claimed and held tasks (a Query of its partition with a filter)."""
    open_states = [State.SCHEDULED.value, State.CLAIMED.value, State.HELD.value]
    yield from Task.query(seller_id, filter_condition=Task.state.is_in(*open_states))


def held_tasks(seller_id: str) -> Iterator[Task]:
    """A seller's held tasks."""
    yield from Task.query(seller_id, filter_condition=Task.state == State.HELD.value)


def expire_held(seller_id: str, tid: str, *, now: datetime, reason: str = "window_closed") -> Task | None:
    """A held task whose window closed while it waited."""
    return transition(
        seller_id,
        tid,
        Event.EXPIRE,
        now=now,
        shards=1,
        reason=reason,
        fields={"holds": None},
        also=Task.state == State.HELD.value,
    )


def put_stub(seller_id: str, tid: str, *, refunds: dict, now: datetime) -> bool:
    """A refund message came before its trade's: remember the refunds on a held placeholder task.

    The placeholder expires after the rating window if the trade message never comes.
    """
    stub = Task(
        seller_id,
        tid,
        state=State.HELD.value,
        reason="awaiting_trade",
        holds={"awaiting_trade"},
        trade_end=_epoch(now),
        created_at=_epoch(now),
        updated_at=_epoch(now),
        refunds=refunds,
        stub=True,
        expire_at=now + timedelta(days=30),
        held_shard=held_shard(seller_id, tid),
        held_at=_epoch(now),
    )
    return save_if(stub, condition=Task.tid.does_not_exist())


def fill_stub(new: NewTask, *, rev: int, now: datetime, shards: int) -> bool:
    """Turn a placeholder into the real task (state decided by the caller); False if it changed meanwhile."""
    task = Task(new.seller_id, new.tid)
    actions = [
        Task.stub.remove(),
        Task.oid.set(new.oid),
        Task.state.set(new.state.value),
        Task.trade_end.set(_epoch(new.trade_end)),
        Task.updated_at.set(_epoch(now)),
        Task.rev.add(1),
        Task.content.set(new.content),
        Task.template_index.set(new.template_index),
        Task.item_title.set(new.item_title) if new.item_title else Task.item_title.remove(),
        Task.buyer_hash.set(new.buyer_hash) if new.buyer_hash else Task.buyer_hash.remove(),
        Task.buyer_uid_hash.set(new.buyer_uid_hash) if new.buyer_uid_hash else Task.buyer_uid_hash.remove(),
        Task.buyer_masked.set(new.buyer_masked) if new.buyer_masked else Task.buyer_masked.remove(),
        Task.payment.set(new.payment) if new.payment is not None else Task.payment.remove(),
        Task.item_id.set(new.item_id) if new.item_id else Task.item_id.remove(),
        Task.holds.set(set(new.holds)) if new.holds else Task.holds.remove(),
        Task.reason.set(new.reason) if new.reason else Task.reason.remove(),
        *(_held_keys(new.seller_id, new.tid, now) if new.state is State.HELD else _not_held()),
    ]
    if new.state in INDEXED:
        actions += [
            Task.due_shard.set(due_shard(new.seller_id, new.tid, shards)),
            Task.due_at.set(_epoch(new.due_at)),
            Task.expire_at.remove(),
        ]
    else:
        actions.append(Task.expire_at.set(now + TERMINAL_RETENTION))
    if new.state is State.HELD and new.wake_at is not None:
        actions += [
            Task.due_shard.set(due_shard(new.seller_id, new.tid, shards)),
            Task.due_at.set(_epoch(new.wake_at)),
        ]
    return update_if(task, actions=actions, condition=(Task.stub == True) & (Task.rev == rev))  # noqa: E712


def set_refunds(seller_id: str, tid: str, refunds: dict, *, rev: int, now: datetime) -> Task | None:
    """Store the merged refunds map if nobody wrote the task since it was read at ``rev``."""
    task = Task(seller_id, tid)
    actions = [Task.refunds.set(refunds), Task.updated_at.set(_epoch(now)), Task.rev.add(1)]
    if not update_if(task, actions=actions, condition=Task.rev == rev):
        return None
    return task


def set_items(seller_id: str, tid: str, *, item_ids: str | None, item_title: str | None, now: datetime) -> None:
    """Record the trade's items read from the marketplace (comma-separated ids, and the title when the task had
    none), so the order filters, the what-if and the log see them from now on; the task's state is untouched."""
    actions = [Task.updated_at.set(_epoch(now))]
    if item_ids:
        actions.append(Task.item_id.set(item_ids))
    if item_title:
        actions.append(Task.item_title.set(item_title))
    update_if(Task(seller_id, tid), actions=actions, condition=Task.tid.exists())


def reschedule(seller_id: str, tid: str, due_at: datetime, *, now: datetime) -> Task | None:
    """Move a scheduled task's due time (an ``after_buyer`` task released by the buyer's rating)."""
    task = Task(seller_id, tid)
    if not update_if(
        task,
        actions=[Task.due_at.set(_epoch(due_at)), Task.updated_at.set(_epoch(now)), Task.rev.add(1)],
        condition=(Task.state == State.SCHEDULED.value) & (Task.due_at > _epoch(due_at)),
    ):
        return None
    return task


# An explanation (the seller's reply to a buyer's rating) is a task of its own in the seller's partition, keyed
# ``<tid>#explain``: it moves through the same states, the due index and the holds as a review, and the worker
# posts it through the same write path. ``#`` is never part of a trade id, and the seller's task list skips it.
EXPLANATION_SUFFIX = "#explain"


def explanation_tid(tid: str) -> str:
    """The key of the explanation task of trade ``tid``."""
    return tid + EXPLANATION_SUFFIX


def is_explanation(tid: str) -> bool:
    """True for an explanation task's key."""
    return tid.endswith(EXPLANATION_SUFFIX)


def trade_tid(tid: str) -> str:
    """The trade id of a review, explanation or memo task's key."""
    return tid.removesuffix(EXPLANATION_SUFFIX).removesuffix(MEMO_SUFFIX)


# A memo (a flag on the order's seller memo, ``taobao.trade.memo.update``) is a task of its own too, keyed
# ``<tid>#memo``, sent by the worker through the same write path and guard; the seller's task list skips it.
MEMO_SUFFIX = "#memo"


def memo_tid(tid: str) -> str:
    """The key of the memo task of trade ``tid``."""
    return tid + MEMO_SUFFIX


def is_memo(tid: str) -> bool:
    """True for a memo task's key."""
    return tid.endswith(MEMO_SUFFIX)


def create_memo(seller_id: str, tid: str, *, content: str, now: datetime, shards: int) -> bool:
    """Queue the memo of trade ``tid``, due now; False when one was queued before (a redelivered message)."""
    return _create_due_now(seller_id, memo_tid(tid), content=content, trade_end=now, now=now, shards=shards)


def create_explanation(
    seller_id: str,
    tid: str,
    *,
    oid: str,
    content: str,
    trade_end: datetime,
    rated_at: datetime,
    now: datetime,
    shards: int,
) -> bool:
    """Queue the reply to trade ``tid``'s rating, due now; False when one was queued before (a redelivery).

    ``rated_at`` is when the buyer rated: the explanation window counts from it.
    """
    key = explanation_tid(tid)
    return _create_due_now(
        seller_id,
        key,
        content=content,
        trade_end=trade_end,
        now=now,
        shards=shards,
        oid=oid,
        buyer_rated_at=_epoch(rated_at),
    )


def _create_due_now(
    seller_id: str, key: str, *, content: str, trade_end: datetime, now: datetime, shards: int, **fields
) -> bool:
    """Create task ``key`` carrying ``content``, due now; False when it exists (a redelivery made it before)."""
    task = Task(
        seller_id,
        key,
        state=State.SCHEDULED.value,
        trade_end=_epoch(trade_end),
        created_at=_epoch(now),
        updated_at=_epoch(now),
        attempts=0,
        content=content,
        due_shard=due_shard(seller_id, key, shards),
        due_at=_epoch(now),
        **fields,
    )
    return save_if(task, condition=Task.tid.does_not_exist())


def requeue_explanation(seller_id: str, tid: str, *, content: str, now: datetime, shards: int) -> Task | None:
    """Schedule a failed explanation again, now, with new text and a fresh attempt budget; None if not failed."""
    return transition(
        seller_id,
        explanation_tid(tid),
        Event.REQUEUE,
        now=now,
        shards=shards,
        due_at=now,
        fields={"content": content, "attempts": 0, "holds": None},
        also=Task.state == State.FAILED.value,
    )


def held_without_holds(shard: int, *, page_size: int = 100) -> Iterator[Task]:
    """Held tasks of one ``held`` index partition that hold nothing (none should; older versions could leave one)."""
    keys: list[tuple[str, str]] = []
    for item in Task.by_held.query(shard, page_size=page_size):
        keys.append((item.seller_id, item.tid))
        if len(keys) == page_size:
            yield from _holdless(keys)
            keys = []
    yield from _holdless(keys)


def _holdless(keys: list[tuple[str, str]]) -> Iterator[Task]:
    for task in Task.batch_get(keys) if keys else ():
        if task.state == State.HELD.value and not task.holds:
            yield task


def release_holdless(seller_id: str, tid: str, *, now: datetime, shards: int) -> Task | None:
    """Schedule a held task that holds nothing, due now (the worker expires it if its window closed); None
    when it is not held or holds something (it changed since it was found)."""
    return transition(
        seller_id,
        tid,
        Event.RELEASE,
        now=now,
        shards=shards,
        due_at=now,
        also=Task.holds.does_not_exist(),
    )

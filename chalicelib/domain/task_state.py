"""The review task state machine: which events may move a task from which states, and where to.

The store turns each allowed source set into the condition of a conditional write, so duplicate and
out-of-order deliveries can never post twice or bring a finished task back.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CLAIMED = "claimed"
    POSTED = "posted"
    SKIPPED = "skipped"
    EXPIRED = "expired"
    FAILED = "failed"


class Event(StrEnum):
    HOLD = "hold"
    RELEASE = "release"
    CLAIM = "claim"
    POST = "post"
    SKIP = "skip"
    EXPIRE = "expire"
    RETRY_LATER = "retry_later"
    FAIL = "fail"
    REQUEUE = "requeue"
    SETTLE = "settle"  # the marketplace already shows the seller's review (found by reconcile)


# A failed task is final for the pipeline; only an explicit seller/operator retry (REQUEUE) reopens it.
TERMINAL = frozenset({State.POSTED, State.SKIPPED, State.EXPIRED, State.FAILED})
OPEN = frozenset({State.SCHEDULED, State.HELD, State.CLAIMED})
# States in which a task sits in the sparse `due` index (claimed too, so expired claims are found again).
INDEXED = frozenset({State.SCHEDULED, State.CLAIMED})

SOURCES: dict[Event, frozenset[State]] = {
    Event.HOLD: frozenset({State.SCHEDULED, State.HELD, State.CLAIMED}),
    Event.RELEASE: frozenset({State.HELD}),
    Event.CLAIM: frozenset({State.SCHEDULED, State.CLAIMED}),
    Event.POST: frozenset({State.CLAIMED}),
    Event.SKIP: OPEN,
    Event.EXPIRE: OPEN,
    Event.RETRY_LATER: frozenset({State.CLAIMED}),
    Event.FAIL: frozenset({State.CLAIMED}),
    Event.REQUEUE: frozenset({State.FAILED, State.HELD}),
    Event.SETTLE: OPEN,
}

# States no event leaves (a failed task is reopened by an explicit retry): a task read in one of them stays there,
# so a transition asked of it is refused without asking the store.
FINAL = frozenset(state for state in State if not any(state in sources for sources in SOURCES.values()))

TARGETS: dict[Event, State] = {
    Event.HOLD: State.HELD,
    Event.RELEASE: State.SCHEDULED,
    Event.CLAIM: State.CLAIMED,
    Event.POST: State.POSTED,
    Event.SKIP: State.SKIPPED,
    Event.EXPIRE: State.EXPIRED,
    Event.RETRY_LATER: State.SCHEDULED,
    Event.FAIL: State.FAILED,
    Event.REQUEUE: State.SCHEDULED,
    Event.SETTLE: State.POSTED,
}

"""The state machine's tables: what the store turns into conditions of its conditional writes."""

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.task_state import FINAL, INDEXED, OPEN, SOURCES, TARGETS, TERMINAL, Event, State


def run(events):
    """Apply each event whose source set allows it (as the conditional write would); return the states seen."""
    state, seen = State.SCHEDULED, [State.SCHEDULED]
    for event in events:
        if state in SOURCES[event]:
            state = TARGETS[event]
            seen.append(state)
    return seen


def test_every_event_has_sources_and_a_target():
    assert set(SOURCES) == set(TARGETS) == set(Event)
    assert all(SOURCES[e] for e in Event)


def test_posted_skipped_and_expired_are_never_left():
    assert FINAL == TERMINAL - {State.FAILED} == {State.POSTED, State.SKIPPED, State.EXPIRED}
    for event in Event:
        assert not (SOURCES[event] & FINAL), event


def test_only_an_explicit_requeue_reopens_a_failed_task():
    leaving_failed = [e for e in Event if State.FAILED in SOURCES[e]]
    assert leaving_failed == [Event.REQUEUE]


def test_a_post_needs_a_claim_except_when_the_marketplace_already_shows_it():
    into_posted = {e for e in Event if TARGETS[e] is State.POSTED}
    assert into_posted == {Event.POST, Event.SETTLE}
    assert SOURCES[Event.POST] == {State.CLAIMED}


def test_the_due_index_holds_exactly_the_states_the_sweep_must_see():
    assert {State.SCHEDULED, State.CLAIMED} == INDEXED
    assert INDEXED <= OPEN


@given(st.lists(st.sampled_from(list(Event)), max_size=40))
def test_any_delivery_sequence_posts_at_most_once_and_stays_final(events):
    seen = run(events)
    assert seen.count(State.POSTED) <= 1
    first_final = next((i for i, s in enumerate(seen) if s in FINAL), None)
    if first_final is not None:
        assert len(seen) == first_final + 1  # nothing after a final state

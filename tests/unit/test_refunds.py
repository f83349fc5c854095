from itertools import permutations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.refunds import effect, merge

steps = st.lists(
    st.tuples(st.sampled_from(["r1", "r2"]), st.sampled_from(["created", "closed", "succeeded"])), max_size=6
)


def fold(events):
    refunds = {}
    for rid, status in events:
        refunds = merge(refunds, rid, status)
    return refunds


@given(steps)
def test_outcome_is_independent_of_delivery_order(events):
    first = effect(fold(events))
    for perm in permutations(events):
        assert effect(fold(perm)) == first


def test_created_then_closed_releases_and_late_created_does_not_reopen():
    assert effect(fold([("r", "created")])) == "open"
    assert effect(fold([("r", "created"), ("r", "closed")])) == "none"
    assert effect(fold([("r", "closed"), ("r", "created")])) == "none"


def test_any_paid_refund_skips():
    assert effect(fold([("a", "created"), ("b", "created"), ("b", "succeeded")])) == "succeeded"
    assert effect({}) == "none"

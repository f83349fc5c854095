"""The chaos verdict: which outcomes lost messages explain, and which break an invariant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.chaos import judge
from sandbox.world import TradeSpec

END = datetime(2026, 11, 11, 4, tzinfo=UTC)
NEAR = timedelta(minutes=10)


def trade(tid: str, expect: str, **kw) -> TradeSpec:
    return TradeSpec("shop", tid, tid + "1", "tb_b", "AAH", "x", "9.00", END, expect=expect, **kw)


def verdict(trades, outcomes, posts=None, lost=None):
    return judge(trades, outcomes, posts or {}, lost or {}, near=NEAR)


def test_expected_outcomes_pass():
    trades = [trade("1", "posted"), trade("2", "skipped:refunded"), trade("3", "held:plan_expired")]
    assert verdict(trades, {"1": "posted", "2": "skipped:refunded", "3": "held:plan_expired"}, {"1": 1}).ok


def test_a_missing_review_is_lost_and_a_second_post_is_double():
    result = verdict([trade("1", "posted"), trade("2", "posted")], {"1": "missing", "2": "posted"}, {"2": 2})
    assert (result.lost_reviews, result.double_posts, result.ok) == (1, 1, False)


def test_a_post_where_none_may_be_is_forbidden_unless_the_refund_was_never_told():
    trades = [trade("1", "skipped:refunded"), trade("2", "skipped:blacklisted"), trade("3", "expired:window_closed")]
    outcomes = {"1": "posted", "2": "posted", "3": "posted"}
    assert verdict(trades, outcomes).forbidden_posts == 3
    explained = verdict(trades[:1], {"1": "posted"}, lost={"1": {"refund_created", "refund_succeeded"}})
    assert explained.ok and any("skipped:refunded -> posted" in line for line in explained.lines)


def test_a_claimed_task_is_counted_once_as_claimed():
    result = verdict([trade("1", "posted")], {"1": "claimed:None"})
    assert (result.claimed, result.lost_reviews, result.ok) == (1, 0, False)


def test_a_bad_rating_seen_first_may_skip_and_one_never_seen_may_not_stop_the_post():
    bad = (END + timedelta(hours=3), "bad")
    posted_expected = trade("1", "posted", buyer_rating=bad)
    skip_expected = trade("2", "skipped:buyer_bad_rating", buyer_rating=bad, post_at=END + timedelta(hours=6))
    assert verdict([posted_expected], {"1": "skipped:buyer_bad_rating"}).ok
    assert not verdict([skip_expected], {"2": "posted"}).ok
    assert verdict([skip_expected], {"2": "posted"}, lost={"2": {"buyer_rated"}}).ok

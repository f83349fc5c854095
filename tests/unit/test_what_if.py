"""The what-if: past trades replayed under settings, decided as the scheduler and the write path decide."""

import json
from datetime import timedelta
from pathlib import Path

import chalicelib
from chalicelib.domain.market_time import parse_market_time
from chalicelib.domain.order_filters import TradeFacts
from chalicelib.domain.rules import parse_rules
from chalicelib.domain.settings import SellerSettings
from chalicelib.domain.what_if import PastTrade, simulate, spread_of

RULES = parse_rules(json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8")))
START = parse_market_time("2026-11-01 10:00:00")
NOW = START + timedelta(days=30)
ALL = frozenset({"delay", "after_buyer"})


def trade(n: int, **kw) -> PastTrade:
    return PastTrade(tid=str(n), trade_end=START + timedelta(hours=n), **kw)


DEFAULTS = SellerSettings()


def run(trades, settings=DEFAULTS, *, cap=100, paused=False, now=NOW):
    return simulate(trades, settings, RULES, features=ALL, hourly_cap=cap, paused=paused, now=now)


def test_every_trade_gets_one_outcome_with_its_reason():
    trades = [
        trade(1, facts=TradeFacts(amount_fen=500)),
        trade(2, facts=TradeFacts(amount_fen=5000)),
        trade(3, blacklisted=True),
        trade(4, refund_effect="succeeded"),
        trade(5, refund_effect="open"),
        trade(6, buyer_rating="bad", buyer_rated_at=START),
        trade(7, buyer_refund_at=START),
    ]
    settings = SellerSettings(filters={"min_amount": "10", "skip_refund_buyers": True})
    result = run(trades, settings)
    assert len(result.outcomes) == len(trades)
    assert result.posted == 1
    assert result.skipped == {
        "filter_amount_low": 1,
        "blacklisted": 1,
        "refunded": 1,
        "buyer_bad_rating": 1,
        "filter_refund_buyer": 1,
    }
    assert result.held == {"refund": 1}


def test_a_refund_asked_after_the_post_does_not_skip_it():
    late = trade(1, buyer_refund_at=START + timedelta(days=3))
    result = run([late], SellerSettings(filters={"skip_refund_buyers": True}))
    assert result.posted == 1


def test_paused_holds_what_the_filters_let_through():
    result = run([trade(1), trade(2, blacklisted=True)], paused=True)
    assert result.held == {"paused": 1} and result.skipped == {"blacklisted": 1} and result.posted == 0


def test_the_cap_spreads_posts_over_hours_and_past_the_window_they_expire():
    burst = [PastTrade(tid=str(n), trade_end=START) for n in range(30)]
    result = run(burst, cap=10)
    assert result.posted == 30
    assert sorted(n for n in result.posted_by_hour if n) == [10, 10, 10]
    # One an hour: the window (15 days, 360 hours) takes 360 of 400 and the rest expire.
    crowd = [PastTrade(tid=str(n), trade_end=START) for n in range(400)]
    squeezed = run(crowd, cap=1, now=START + timedelta(days=40))
    assert (squeezed.posted, squeezed.expired) == (360, 40)


def test_the_delay_and_the_random_delay_move_the_posts_and_later_ones_are_waiting():
    settings = SellerSettings(mode="delay", delay_hours=48, random_delay={"min_minutes": 0, "max_minutes": 600})
    result = run([trade(1), trade(2)], settings, now=START + timedelta(days=2, hours=1))
    at = {o.tid: o.at for o in result.outcomes}
    for tid in ("1", "2"):
        expected = START + timedelta(hours=int(tid), days=2)
        assert expected <= at[tid] <= expected + timedelta(minutes=600)
    assert result.posted + result.waiting == 2


def test_the_same_settings_give_the_same_answer():
    assert spread_of("123") == spread_of("123") and 0 <= spread_of("123") < 1
    trades = [trade(n) for n in range(20)]
    settings = SellerSettings(random_delay={"min_minutes": 0, "max_minutes": 1000})
    assert run(trades, settings) == run(trades, settings)

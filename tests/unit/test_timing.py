import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chalicelib
from chalicelib.domain.market_time import (
    MARKET_TZ,
    MarketTimeInvalid,
    format_market_time,
    market_date,
    parse_market_time,
)
from chalicelib.domain.rules import parse_rules
from chalicelib.domain.settings import SellerSettings
from chalicelib.domain.timing import (
    due_after_buyer_rated,
    due_after_refund_closed,
    fallback_at,
    initial_due_at,
    is_window_closed,
    retries_exhausted,
    retry_due_at,
    window_closes_at,
)

DEFAULT = json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8"))
RULES = parse_rules(DEFAULT)
END = parse_market_time("2024-05-01 10:00:00")
MODES = ("immediate", "delay", "after_buyer")

instants = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


def settings(**kw):
    return SellerSettings(**kw)


# Market time


def test_parse_market_time_is_gmt8():
    assert parse_market_time("2024-03-01 00:30:00") == datetime(2024, 2, 29, 16, 30, tzinfo=UTC)


def test_parse_returns_utc():
    assert parse_market_time("2024-03-01 00:30:00").utcoffset() == timedelta(0)


def test_format_market_time_converts_to_gmt8():
    assert format_market_time(datetime(2023, 12, 31, 16, 0, 1, 999, tzinfo=UTC)) == "2024-01-01 00:00:01"


@pytest.mark.parametrize("text", ["", "2024-13-01 00:00:00", "2024-05-01T10:00:00", "2024-05-01", "now", None, 1])
def test_invalid_market_time_is_rejected(text):
    with pytest.raises(MarketTimeInvalid):
        parse_market_time(text)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        format_market_time(datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        market_date(datetime(2024, 1, 1))


def test_market_date_turns_at_gmt8_midnight():
    assert market_date(datetime(2024, 1, 1, 15, 59, 59, tzinfo=UTC)) == date(2024, 1, 1)
    assert market_date(datetime(2024, 1, 1, 16, 0, 0, tzinfo=UTC)) == date(2024, 1, 2)


@given(instants)
def test_market_time_round_trips_to_the_second(dt):
    assert parse_market_time(format_market_time(dt)) == dt.replace(microsecond=0)
    assert market_date(dt) == dt.astimezone(MARKET_TZ).date()


# Window and fallback


def test_window_closes_fifteen_days_after_trade_end():
    assert window_closes_at(END, RULES) == END + timedelta(days=15)


def test_window_closed_from_the_closing_instant_on():
    close = window_closes_at(END, RULES)
    assert not is_window_closed(close - timedelta(microseconds=1), END, RULES)
    assert is_window_closed(close, END, RULES)


def test_window_follows_the_rules_document():
    short = parse_rules(DEFAULT, {"version": "x", "rating_window_days": 7})
    assert window_closes_at(END, short) == END + timedelta(days=7)


def test_fallback_is_margin_before_close():
    assert fallback_at(END, 12, RULES) == END + timedelta(days=15) - timedelta(hours=12)


def test_fallback_is_never_before_trade_end():
    assert fallback_at(END, 24 * 20, RULES) == END


# Initial due time


def test_immediate_is_due_at_trade_end():
    assert initial_due_at("immediate", END, settings(delay_hours=5), RULES) == END


def test_delay_is_due_delay_hours_after_trade_end():
    assert initial_due_at("delay", END, settings(delay_hours=5), RULES) == END + timedelta(hours=5)


def test_delay_is_capped_at_fallback():
    s = settings(delay_hours=360, fallback_margin_hours=12)
    assert initial_due_at("delay", END, s, RULES) == fallback_at(END, 12, RULES)


def test_after_buyer_waits_until_fallback():
    s = settings(fallback_margin_hours=30)
    assert initial_due_at("after_buyer", END, s, RULES) == END + timedelta(days=15, hours=-30)


def test_mode_argument_overrides_settings_mode():
    s = settings(mode="after_buyer", delay_hours=5)
    assert initial_due_at("immediate", END, s, RULES) == END


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError):
        initial_due_at("someday", END, settings(), RULES)


def test_delay_crossing_gmt8_midnight_lands_on_next_market_day():
    end = parse_market_time("2024-05-01 23:30:00")
    due = initial_due_at("delay", end, settings(delay_hours=2), RULES)
    assert format_market_time(due) == "2024-05-02 01:30:00"
    assert market_date(due) == date(2024, 5, 2)
    assert market_date(end) == date(2024, 5, 1)


def test_window_close_of_a_late_evening_trade_is_in_market_time():
    end = parse_market_time("2024-05-01 23:30:00")
    assert format_market_time(window_closes_at(end, RULES)) == "2024-05-16 23:30:00"


@given(
    instants,
    st.sampled_from(MODES),
    st.integers(min_value=0, max_value=360),
    st.integers(min_value=1, max_value=359),
)
def test_due_is_between_trade_end_and_fallback_and_before_close(end, mode, delay, margin):
    s = settings(delay_hours=delay, fallback_margin_hours=margin)
    due = initial_due_at(mode, end, s, RULES)
    assert end <= due <= fallback_at(end, margin, RULES) < window_closes_at(end, RULES)


@given(instants, st.integers(0, 359), st.integers(1, 359))
def test_delay_due_never_decreases_with_longer_delay(end, delay, margin):
    shorter = initial_due_at("delay", end, settings(delay_hours=delay, fallback_margin_hours=margin), RULES)
    longer = initial_due_at("delay", end, settings(delay_hours=delay + 1, fallback_margin_hours=margin), RULES)
    assert shorter <= longer


@given(instants, st.integers(1, 358))
def test_fallback_never_later_with_bigger_margin(end, margin):
    assert fallback_at(end, margin + 1, RULES) <= fallback_at(end, margin, RULES)


# Buyer rating and refunds


def test_buyer_rating_releases_at_the_rating_time():
    rated = END + timedelta(days=2)
    assert due_after_buyer_rated(rated, END, settings(), RULES) == rated


def test_buyer_rating_before_trade_end_is_due_at_trade_end():
    assert due_after_buyer_rated(END - timedelta(hours=1), END, settings(), RULES) == END


def test_buyer_rating_after_fallback_keeps_fallback():
    s = settings(fallback_margin_hours=12)
    late = END + timedelta(days=14, hours=13)
    assert due_after_buyer_rated(late, END, s, RULES) == fallback_at(END, 12, RULES)


@given(instants, st.integers(-48, 24 * 16), st.integers(1, 359))
def test_buyer_release_is_never_later_than_waiting(end, hours, margin):
    s = settings(mode="after_buyer", fallback_margin_hours=margin)
    due = due_after_buyer_rated(end + timedelta(hours=hours), end, s, RULES)
    assert end <= due <= initial_due_at("after_buyer", end, s, RULES)


def test_refund_closed_after_window_gives_nothing():
    now = window_closes_at(END, RULES)
    assert due_after_refund_closed(now, END, settings(mode="delay"), RULES) is None


def test_refund_closed_before_planned_time_keeps_the_plan():
    s = settings(mode="delay", delay_hours=72)
    now = END + timedelta(hours=5)
    assert due_after_refund_closed(now, END, s, RULES) == END + timedelta(hours=72)


def test_refund_closed_after_planned_time_is_due_now():
    s = settings(mode="delay", delay_hours=2)
    now = END + timedelta(days=3)
    assert due_after_refund_closed(now, END, s, RULES) == now


def test_refund_closed_late_in_after_buyer_mode_is_due_now_before_close():
    s = settings(mode="after_buyer", fallback_margin_hours=12)
    now = END + timedelta(days=14, hours=23)
    assert due_after_refund_closed(now, END, s, RULES) == now


@given(instants, st.integers(0, 24 * 20 * 60), st.sampled_from(MODES), st.integers(0, 360), st.integers(1, 359))
def test_refund_release_is_not_in_the_past_and_inside_the_window(end, minutes, mode, delay, margin):
    now = end + timedelta(minutes=minutes)
    s = settings(mode=mode, delay_hours=delay, fallback_margin_hours=margin)
    due = due_after_refund_closed(now, end, s, RULES)
    if is_window_closed(now, end, RULES):
        assert due is None
    else:
        assert now <= due < window_closes_at(end, RULES)


@given(
    instants,
    st.integers(0, 24 * 20 * 60),
    st.sampled_from(MODES),
    st.integers(0, 240),
    st.integers(0, 240),
    st.floats(0, 1, exclude_max=True),
)
def test_a_released_review_gets_a_fresh_random_delay_inside_the_window(end, minutes, mode, low, extra, spread):
    now = end + timedelta(minutes=minutes)
    s = settings(mode=mode, random_delay={"min_minutes": low, "max_minutes": low + extra})
    due = due_after_refund_closed(now, end, s, RULES, spread=spread)
    if is_window_closed(now, end, RULES):
        assert due is None
        return
    fallback = fallback_at(end, s.fallback_margin_hours, RULES)
    assert now <= due < window_closes_at(end, RULES)
    assert due <= max(now, fallback)
    planned = initial_due_at(mode, end, s, RULES, spread=spread)
    if planned <= now and now + timedelta(minutes=low + extra) <= fallback:
        # Its planned time passed: the delay is counted from the release, inside the seller's range.
        assert now + timedelta(minutes=low) <= due <= now + timedelta(minutes=low + extra)


def test_reviews_released_together_are_spread_over_the_range():
    s = settings(mode="immediate", random_delay={"min_minutes": 10, "max_minutes": 70})
    now = END + timedelta(days=2)
    dues = {due_after_refund_closed(now, END, s, RULES, spread=i / 10) for i in range(10)}
    assert len(dues) == 10 and min(dues) == now + timedelta(minutes=10) and max(dues) <= now + timedelta(minutes=70)


# Retry


def test_first_retry_waits_between_half_and_one_base_period():
    now = END
    assert retry_due_at(now, 1, RULES, 0.0) == now + timedelta(seconds=30)
    assert retry_due_at(now, 1, RULES, 0.5) == now + timedelta(seconds=45)


def test_backoff_doubles_per_attempt():
    assert retry_due_at(END, 3, RULES, 0.0) == END + timedelta(seconds=120)


def test_backoff_is_capped():
    assert retry_due_at(END, 50, RULES, 0.999999) <= END + timedelta(seconds=3600)
    assert retry_due_at(END, 10**9, RULES, 0.0) == END + timedelta(seconds=1800)


def test_zero_attempts_counts_as_first():
    assert retry_due_at(END, 0, RULES, 0.0) == retry_due_at(END, 1, RULES, 0.0)


@pytest.mark.parametrize("rng", [-0.1, 1.0, 2.0])
def test_rng_value_out_of_range_is_an_error(rng):
    with pytest.raises(ValueError):
        retry_due_at(END, 1, RULES, rng)


@given(instants, st.integers(1, 40), st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_retry_is_later_for_more_attempts_and_within_bounds(now, attempts, rng):
    due = retry_due_at(now, attempts, RULES, rng)
    assert due <= retry_due_at(now, attempts + 1, RULES, rng)
    base, cap = RULES.retry.backoff_base_seconds, RULES.retry.backoff_max_seconds
    assert now + timedelta(seconds=base / 2) <= due <= now + timedelta(seconds=cap)


def test_retries_exhausted_at_max_attempts():
    limit = RULES.retry.max_attempts
    assert not retries_exhausted(limit - 1, RULES)
    assert retries_exhausted(limit, RULES)

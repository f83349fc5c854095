"""The random delay stays inside the seller's range and the rating window; the hourly cap spreads the posts."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chalicelib
from chalicelib.domain.market_time import MARKET_TZ, parse_market_time
from chalicelib.domain.rules import parse_rules
from chalicelib.domain.settings import SellerSettings, SettingsInvalid, validate_settings
from chalicelib.domain.timing import fallback_at, initial_due_at, planned_times, random_delay

RULES = parse_rules(json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8")))
END = parse_market_time("2024-05-01 10:00:00")
ALL = frozenset({"delay", "after_buyer", "auto_explain", "auto_blacklist"})


@given(
    low=st.integers(0, 3000),
    span=st.integers(0, 3000),
    spread=st.floats(0, 1, exclude_max=True),
    mode=st.sampled_from(["immediate", "delay"]),
    delay_hours=st.integers(0, 360),
)
def test_the_delay_is_inside_the_range_and_never_past_the_fallback(low, span, spread, mode, delay_hours):
    settings = SellerSettings(
        mode=mode, delay_hours=delay_hours, random_delay={"min_minutes": low, "max_minutes": low + span}
    )
    base = END + timedelta(hours=delay_hours if mode == "delay" else 0)
    due = initial_due_at(mode, END, settings, RULES, spread=spread)
    fallback = fallback_at(END, settings.fallback_margin_hours, RULES)
    assert due <= fallback
    if base + timedelta(minutes=low + span) <= fallback:
        assert base + timedelta(minutes=low) <= due <= base + timedelta(minutes=low + span)


def test_no_random_delay_keeps_the_old_times():
    assert initial_due_at("immediate", END, SellerSettings(), RULES, spread=0.99) == END
    assert random_delay(SellerSettings(), 0.5) == timedelta(0)
    with pytest.raises(ValueError):
        random_delay(SellerSettings(), 1.0)


def test_a_delay_range_must_fit_the_rating_window():
    with pytest.raises(SettingsInvalid) as refused:
        validate_settings({"random_delay": {"min_minutes": 0, "max_minutes": 15 * 1440}}, features=ALL, rules=RULES)
    assert "random_delay.max_minutes" in refused.value.fields
    fine = validate_settings({"random_delay": {"min_minutes": 10, "max_minutes": 14 * 1440}}, features=ALL, rules=RULES)
    assert fine.random_delay.max_minutes == 14 * 1440


dues = st.lists(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 3), timezones=st.just(UTC)), max_size=60
)


@given(due=dues, cap=st.integers(1, 10))
def test_planned_times_respect_the_cap_and_never_come_early(due, cap):
    now = datetime(2026, 1, 2, tzinfo=UTC)
    planned = planned_times(due, now=now, hourly_cap=cap)
    assert len(planned) == len(due)
    per_hour = Counter(p.astimezone(MARKET_TZ).replace(minute=0, second=0, microsecond=0) for p in planned)
    assert all(n <= cap for n in per_hour.values())
    assert planned == sorted(planned)
    assert all(p >= now for p in planned)
    for when, at in zip(sorted(max(d, now) for d in due), planned, strict=True):
        assert at >= when


def test_a_zero_cap_plans_nothing():
    assert planned_times([END], now=END, hourly_cap=0) == []

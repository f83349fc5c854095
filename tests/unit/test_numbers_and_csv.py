"""好评率 as counted for the seller and the items drawing complaints."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.good_rate import good_rates, most_complained

TODAY = date(2026, 12, 7)


def test_good_rate_is_good_over_all_ratings_per_period():
    per_day = {
        TODAY: {"good": 8, "neutral": 1, "bad": 1},
        TODAY - timedelta(days=40): {"good": 0, "neutral": 0, "bad": 10},
        TODAY - timedelta(days=179): {"good": 10, "neutral": 0, "bad": 0},
        TODAY - timedelta(days=180): {"good": 0, "neutral": 0, "bad": 99},  # outside every period
    }
    explained = [TODAY, TODAY - timedelta(days=40)]
    r30, r90, r180 = good_rates(TODAY, per_day, explained)
    assert (r30.days, r30.rate, r30.explained_share) == (30, 0.8, 0.5)
    assert (r90.good, r90.bad, r90.rate) == (8, 11, 0.4)
    assert r180.rate == round(18 / 30, 4) and r180.explained == 2


def test_a_period_without_ratings_has_no_rate():
    (r30, *_) = good_rates(TODAY, {}, [])
    assert r30.rate is None and r30.explained_share is None


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)), max_size=30))
def test_the_rate_stays_between_zero_and_one(days):
    per_day = {TODAY - timedelta(days=i): {"good": g, "neutral": n, "bad": b} for i, (g, n, b) in enumerate(days)}
    for rate in good_rates(TODAY, per_day, []):
        assert rate.rate is None or 0 <= rate.rate <= 1
        assert (rate.rate is None) == (rate.good + rate.neutral + rate.bad == 0)


def test_items_rank_by_complaints_then_by_bad_ones():
    ratings = [("杯子", "neutral"), ("杯子", "neutral"), ("袜子", "bad"), ("袜子", "neutral"), ("帽子", "bad")]
    ranked = most_complained(ratings)
    assert [(i.item, i.neutral, i.bad) for i in ranked] == [("袜子", 1, 1), ("杯子", 2, 0), ("帽子", 0, 1)]
    assert len(most_complained([(str(i), "bad") for i in range(30)])) == 10

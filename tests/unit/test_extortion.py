from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.entitlement import BIZ_GIFT, BIZ_NEW, BillingOrder
from chalicelib.domain.extortion import (
    ExtortionPolicy,
    Signal,
    flagged_until,
    is_flagged,
    may_confirm,
    paying,
    suspected,
)

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
POLICY = ExtortionPolicy()

shops = st.sampled_from([f"shop{i}" for i in range(6)])
ages = st.integers(min_value=0, max_value=400 * 24 * 3600)  # seconds before NOW
signal_lists = st.lists(
    st.builds(
        lambda shop, age, kind: Signal(shop, kind, NOW - timedelta(seconds=age)),
        shops,
        ages,
        st.sampled_from(["rating_confirmed", "blacklisted"]),
    ),
    max_size=25,
)
policies = st.builds(ExtortionPolicy, min_shops=st.integers(2, 5), window_days=st.integers(1, 200))


def _distinct_in_window(signals, at, policy):
    return len({s.shop for s in signals if at - policy.window < s.at <= at})


@settings(max_examples=300)
@given(signal_lists, policies, st.integers(min_value=0, max_value=400 * 24 * 3600))
def test_flag_appears_exactly_when_enough_distinct_shops_confirmed_in_the_window(signals, policy, later):
    at = NOW + timedelta(seconds=later)
    until = flagged_until(signals, at, policy)
    assert (until is not None) == (_distinct_in_window(signals, at, policy) >= policy.min_shops)


@settings(max_examples=300)
@given(signal_lists, policies)
def test_a_flag_holds_until_its_expiry_and_not_a_second_longer(signals, policy):
    until = flagged_until(signals, NOW, policy)
    if until is None:
        return
    assert until > NOW and is_flagged(until, NOW)
    just_before = until - timedelta(seconds=1)
    # Without new signals the threshold still holds one second before the stored expiry, and no longer at it.
    assert _distinct_in_window(signals, just_before, policy) >= policy.min_shops
    assert _distinct_in_window(signals, until, policy) < policy.min_shops
    assert flagged_until(signals, until, policy) is None
    assert not is_flagged(until, until)


@given(st.lists(ages, min_size=1, max_size=50))
def test_one_shop_never_flags_a_buyer_however_often_it_confirms(offsets):
    signals = [Signal("same_shop", "rating_confirmed", NOW - timedelta(seconds=a)) for a in offsets]
    assert flagged_until(signals, NOW, POLICY) is None


def test_the_threshold_cannot_be_set_below_two_shops():
    with pytest.raises(ValueError):
        ExtortionPolicy(min_shops=1)


def test_three_shops_inside_180_days_flag_until_the_third_newest_leaves_the_window():
    signals = [
        Signal("a", "rating_confirmed", NOW - timedelta(days=170)),
        Signal("b", "blacklisted", NOW - timedelta(days=10)),
        Signal("c", "rating_confirmed", NOW - timedelta(days=1)),
        Signal("a", "rating_confirmed", NOW - timedelta(days=200)),
    ]
    assert flagged_until(signals, NOW, POLICY) == NOW - timedelta(days=170) + timedelta(days=180)
    assert flagged_until(signals[1:], NOW, POLICY) is None


def test_a_future_signal_does_not_count_yet():
    signals = [Signal(s, "rating_confirmed", NOW + timedelta(hours=1)) for s in "abc"]
    assert flagged_until(signals, NOW, POLICY) is None


@pytest.mark.parametrize(
    ("triage", "expected"),
    [
        (None, False),
        ({"category": "quality", "bad_faith": 0.05}, False),
        ({"category": "quality", "bad_faith": 0.2}, True),
        ({"category": "bad_faith", "bad_faith": 0.1}, True),
    ],
)
def test_suspected_reads_the_stored_triage(triage, expected):
    assert suspected(triage, POLICY) is expected


def _order(biz=BIZ_NEW, fee=1500, refund=0, start=-10, end=20):
    return BillingOrder(
        order_id="1",
        nick="店",
        article_code="FW_GOODS-1000000",
        item_code="FW_GOODS-1000000-1",
        biz_type=biz,
        cycle_start=NOW + timedelta(days=start),
        cycle_end=NOW + timedelta(days=end),
        total_pay_fee=fee,
        refund_fee=refund,
        created=NOW + timedelta(days=start),
    )


def test_only_a_shop_inside_a_paid_cycle_is_paying():
    assert paying([_order()], NOW)
    assert not paying([_order(fee=0)], NOW)  # a free trial
    assert not paying([_order(biz=BIZ_GIFT)], NOW)  # a gift from the back office
    assert not paying([_order(start=-40, end=-10)], NOW)  # lapsed
    assert not paying([_order(refund=1500)], NOW)  # refunded in full
    assert not paying([], NOW)


def test_confirmations_per_shop_are_capped_per_day():
    assert may_confirm(19, POLICY)
    assert not may_confirm(20, POLICY)


def test_sharing_and_warnings_are_off_until_the_seller_turns_them_on():
    from chalicelib.domain.settings import SellerSettings

    settings = SellerSettings()
    assert settings.extortion_contribute is False and settings.extortion_receive is False
    assert settings.extortion_on_paid == "alert"
    with pytest.raises(ValueError):
        SellerSettings(extortion_memo_flag=6)
    with pytest.raises(ValueError):
        SellerSettings(extortion_on_paid="close_order")  # the app never closes, refuses or delays an order

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.entitlement import (
    BIZ_GIFT,
    BIZ_NEW,
    BIZ_RENEW,
    BIZ_UPGRADE,
    CONTIGUITY_TOLERANCE,
    BillingOrder,
    Entitlement,
    Period,
    entitlement,
    granted_period,
    is_entitled,
    plan_at,
    reminders_due,
)
from chalicelib.domain.market_time import parse_market_time as mt

BASIC, PRO = "FW_GOODS-1000000-1", "FW_GOODS-1000000-2"
ARTICLE = "FW_GOODS-1000000"


def order(order_id, start, end, *, item=BASIC, biz=BIZ_NEW, fee=1500, refund=0, created=None):
    start, end = mt(start), mt(end)
    return BillingOrder(
        order_id=order_id,
        nick="卖家小店",
        article_code=ARTICLE,
        item_code=item,
        biz_type=biz,
        cycle_start=start,
        cycle_end=end,
        total_pay_fee=fee,
        refund_fee=refund,
        created=mt(created) if created else start,
    )


JAN = order("1", "2024-01-01 00:00:00", "2024-02-01 00:00:00")


def test_inside_a_paid_cycle_the_seller_is_entitled():
    ent = entitlement([JAN], mt("2024-01-15 12:00:00"))
    assert ent == Entitlement(JAN.cycle_end, BASIC, True, (Period(JAN.cycle_start, JAN.cycle_end),))


def test_cycle_is_half_open():
    assert is_entitled([JAN], JAN.cycle_start)
    assert not is_entitled([JAN], JAN.cycle_end)


def test_before_the_first_cycle_nothing_is_paid_yet():
    ent = entitlement([JAN], mt("2023-12-31 23:00:00"))
    assert (ent.active, ent.paid_until, ent.plan) == (False, None, None)
    assert ent.latest_end == JAN.cycle_end


def test_after_the_last_cycle_paid_until_is_its_end():
    ent = entitlement([JAN], mt("2024-03-01 00:00:00"))
    assert (ent.active, ent.paid_until, ent.plan) == (False, JAN.cycle_end, None)


def test_no_orders_no_entitlement():
    assert entitlement([], mt("2024-01-01 00:00:00")) == Entitlement(None, None, False, ())


def test_contiguous_renewal_extends_paid_until():
    feb = order("2", "2024-02-01 00:00:00", "2024-03-01 00:00:00", biz=BIZ_RENEW)
    ent = entitlement([JAN, feb], mt("2024-01-20 00:00:00"))
    assert ent.paid_until == feb.cycle_end
    assert len(ent.periods) == 1


def test_cycle_ending_at_the_last_second_of_the_day_joins_the_next():
    jan = order("1", "2024-01-01 00:00:00", "2024-01-31 23:59:59")
    feb = order("2", "2024-02-01 00:00:00", "2024-02-29 23:59:59", biz=BIZ_RENEW)
    in_the_gap = mt("2024-01-31 23:59:59") + timedelta(milliseconds=500)
    ent = entitlement([jan, feb], in_the_gap)
    assert ent.active
    assert ent.paid_until == feb.cycle_end
    assert ent.plan == BASIC


def test_inside_a_gap_the_seller_is_not_entitled():
    march = order("2", "2024-03-01 00:00:00", "2024-04-01 00:00:00", biz=BIZ_RENEW)
    ent = entitlement([JAN, march], mt("2024-02-15 00:00:00"))
    assert not ent.active
    assert ent.paid_until == JAN.cycle_end
    assert ent.latest_end == march.cycle_end
    assert entitlement([JAN, march], mt("2024-03-15 00:00:00")).paid_until == march.cycle_end


def test_upgrade_covering_now_sets_the_plan():
    upgrade = order("2", "2024-01-15 00:00:00", "2024-02-01 00:00:00", item=PRO, biz=BIZ_UPGRADE)
    assert plan_at([JAN, upgrade], mt("2024-01-10 00:00:00")) == BASIC
    assert plan_at([JAN, upgrade], mt("2024-01-20 00:00:00")) == PRO


def test_upgrade_wins_over_a_newer_ordinary_order():
    upgrade = order("2", "2024-01-15 00:00:00", "2024-02-01 00:00:00", item=PRO, biz=BIZ_UPGRADE)
    renewal = order("3", "2024-01-20 00:00:00", "2024-02-20 00:00:00", biz=BIZ_RENEW, created="2024-01-25 00:00:00")
    assert plan_at([JAN, upgrade, renewal], mt("2024-01-26 00:00:00")) == PRO
    assert plan_at([JAN, upgrade, renewal], mt("2024-02-10 00:00:00")) == BASIC


def test_newer_order_wins_among_ordinary_orders():
    pro = order("2", "2024-01-10 00:00:00", "2024-02-10 00:00:00", item=PRO, created="2024-01-10 00:00:00")
    assert plan_at([JAN, pro], mt("2024-01-20 00:00:00")) == PRO
    older_pro = replace(pro, created=mt("2023-12-01 00:00:00"))
    assert plan_at([JAN, older_pro], mt("2024-01-20 00:00:00")) == BASIC


def test_gift_with_no_fee_grants_its_cycle():
    gift = order("9", "2024-01-01 00:00:00", "2024-01-08 00:00:00", item=PRO, biz=BIZ_GIFT, fee=0)
    ent = entitlement([gift], mt("2024-01-05 00:00:00"))
    assert ent.active and ent.plan == PRO


@pytest.mark.parametrize("refund", [1500, 2000])
def test_fully_refunded_order_grants_nothing(refund):
    refunded = replace(JAN, refund_fee=refund)
    assert granted_period(refunded) is None
    assert entitlement([refunded], mt("2024-01-15 00:00:00")) == Entitlement(None, None, False, ())


def test_refund_of_a_free_order_cancels_it():
    assert granted_period(order("9", "2024-01-01 00:00:00", "2024-01-08 00:00:00", fee=0, refund=1)) is None


def test_partial_refund_shortens_the_cycle_from_its_end():
    half = order("1", "2024-01-01 00:00:00", "2024-01-31 00:00:00", fee=3000, refund=1500)
    assert granted_period(half) == Period(mt("2024-01-01 00:00:00"), mt("2024-01-16 00:00:00"))
    assert is_entitled([half], mt("2024-01-15 23:59:59"))
    assert not is_entitled([half], mt("2024-01-16 00:00:00"))


def test_empty_or_inverted_cycles_grant_nothing():
    assert granted_period(order("1", "2024-01-01 00:00:00", "2024-01-01 00:00:00")) is None
    assert granted_period(order("1", "2024-02-01 00:00:00", "2024-01-01 00:00:00")) is None


def test_orders_need_aware_times_and_non_negative_fees():
    with pytest.raises(ValueError):
        replace(JAN, cycle_start=datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        replace(JAN, refund_fee=-1)


# Reminders

DAY = timedelta(days=1)
ACTIVE = Entitlement(mt("2024-02-01 00:00:00"), BASIC, True, ())


@pytest.mark.parametrize(
    ("left", "sent", "due"),
    [
        (8 * DAY, set(), []),
        (7 * DAY, set(), [7]),
        (6.5 * DAY, set(), [7]),
        (6.5 * DAY, {7}, []),
        (2.5 * DAY, set(), [3]),
        (2.5 * DAY, {7}, [3]),
        (2.5 * DAY, {3}, []),
        (0.5 * DAY, {7, 3}, [1]),
        (0.5 * DAY, {1}, []),
    ],
)
def test_reminders_send_the_most_urgent_threshold_once(left, sent, due):
    assert reminders_due(ACTIVE, ACTIVE.paid_until - left, (7, 3, 1), sent) == due


def test_no_reminders_when_not_active():
    lapsed = Entitlement(mt("2024-02-01 00:00:00"), None, False, ())
    assert reminders_due(lapsed, mt("2024-01-31 00:00:00"), (7, 3, 1), set()) == []


# Properties

BASE = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def orders(draw, order_id):
    start = BASE + timedelta(hours=draw(st.integers(0, 24 * 120)))
    length = timedelta(hours=draw(st.integers(1, 24 * 60)))
    fee = draw(st.integers(0, 3000))
    return BillingOrder(
        order_id=order_id,
        nick="卖家",
        article_code=ARTICLE,
        item_code=draw(st.sampled_from([BASIC, PRO])),
        biz_type=draw(st.integers(1, 6)),
        cycle_start=start,
        cycle_end=start + length,
        total_pay_fee=fee,
        refund_fee=draw(st.one_of(st.just(0), st.integers(0, fee + 100))),
        created=start - timedelta(hours=draw(st.integers(0, 48))),
    )


order_lists = st.integers(0, 6).flatmap(lambda n: st.tuples(*(orders(str(i)) for i in range(n))).map(list))
instants = st.integers(-24, 24 * 200).map(lambda h: BASE + timedelta(hours=h, seconds=7))


def _until(ent):
    return ent.paid_until or datetime.min.replace(tzinfo=UTC)


@given(order_lists.flatmap(lambda os: st.tuples(st.just(os), st.permutations(os))), instants)
def test_result_does_not_depend_on_order_of_arrival(pair, now):
    original, shuffled = pair
    assert entitlement(original, now) == entitlement(shuffled, now)


@given(order_lists, orders("new"), instants)
def test_adding_an_order_never_shortens_paid_until(existing, extra, now):
    before = entitlement(existing, now)
    after = entitlement([*existing, extra], now)
    assert _until(after) >= _until(before)
    assert after.active or not before.active


@given(order_lists.filter(bool), st.data(), instants)
def test_a_larger_refund_never_extends_paid_until(existing, data, now):
    index = data.draw(st.integers(0, len(existing) - 1))
    refunded = replace(existing[index], refund_fee=existing[index].refund_fee + data.draw(st.integers(1, 3000)))
    before = entitlement(existing, now)
    after = entitlement([*existing[:index], refunded, *existing[index + 1 :]], now)
    assert _until(after) <= _until(before)
    assert before.active or not after.active


@given(order_lists, instants)
def test_entitlement_is_consistent_with_the_orders(existing, now):
    ent = entitlement(existing, now)
    granted = [p for o in existing if (p := granted_period(o))]
    if any(p.start <= now < p.end for p in granted):
        assert ent.active
    assert (ent.plan is not None) == ent.active
    if ent.active:
        assert ent.paid_until > now
    elif ent.paid_until is not None:
        assert ent.paid_until <= now
    for earlier, later in zip(ent.periods, ent.periods[1:], strict=False):
        assert earlier.end + CONTIGUITY_TOLERANCE < later.start


def test_an_order_closed_before_payment_grants_nothing_but_a_closed_partial_refund_keeps_its_share():
    unpaid = replace(JAN, closed=True)
    partly = replace(JAN, refund_fee=500, closed=True)
    assert granted_period(unpaid) is None
    assert granted_period(partly) == granted_period(replace(partly, closed=False)) is not None
    assert not entitlement([unpaid], mt("2024-01-15 00:00:00")).active

"""The order message model: what is accepted, what is refused, and that a refusal never quotes the input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.entitlement import BillingOrder
from chalicelib.marketplace.billing_topics import BillingOrderInvalid, parse_order, searched_order
from chalicelib.marketplace.models import VasOrder, format_top_time

ARTICLE = "FW_GOODS-1000000"
START = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 2026-11-02 00:00:00 GMT+8

VALID = {
    "order_id": 7000000001,
    "biz_order_id": "8000000001",
    "nick": "乐活小铺",
    "article_code": ARTICLE,
    "article_name": "自动好评",
    "item_code": "FW_GOODS-1000000-1",
    "article_item_name": "基础版",
    "biz_type": 1,
    "order_cycle": 2,
    "order_cycle_start": "2026-11-02 00:00:00",
    "order_cycle_end": "2026-12-02 00:00:00",
    "create": "2026-11-02 00:00:00",
    "fee": "1500",
    "prom_fee": 0,
    "total_pay_fee": 1500,
    "refund_fee": 0,
}


def parse(**changes) -> BillingOrder:
    return parse_order({**VALID, **changes}, article_code=ARTICLE)


def refusal(**changes) -> str:
    with pytest.raises(BillingOrderInvalid) as caught:
        parse(**changes)
    return caught.value.reason


def test_a_valid_order_is_typed():
    order = parse()
    assert order.order_id == "7000000001" and order.biz_order_id == "8000000001"
    assert (order.cycle_start, order.cycle_end) == (START, START + timedelta(days=30))
    assert order.created == START
    assert (order.total_pay_fee, order.refund_fee, order.biz_type, order.closed) == (1500, 0, 1, False)


def test_numbers_may_arrive_as_strings_and_times_as_epoch_millis():
    millis = int(START.timestamp() * 1000)
    order = parse(biz_type="2", total_pay_fee="1500", refund_fee="300", order_cycle_start=millis, create=str(millis))
    assert (order.biz_type, order.total_pay_fee, order.refund_fee) == (2, 1500, 300)
    assert order.cycle_start == order.created == START


def test_missing_refund_means_none_and_empty_optional_ids_are_absent():
    order = parse(refund_fee=None, biz_order_id="", order_cycle="")
    assert (order.refund_fee, order.biz_order_id) == (0, None)


def test_another_apps_order_is_refused():
    assert refusal(article_code="FW_GOODS-2000000") == "article_code: is not this app's article_code"


@pytest.mark.parametrize("field", ["order_cycle_start", "order_cycle_end", "create"])
@pytest.mark.parametrize("value", ["2026-13-02 00:00:00", "yesterday", "", None, True])
def test_malformed_times_are_refused(field, value):
    assert refusal(**{field: value}).startswith(f"{field}: ")


def test_a_cycle_that_ends_before_it_starts_is_refused():
    reason = refusal(order_cycle_end="2026-11-01 00:00:00")
    assert reason == "order_cycle_end must be after order_cycle_start"


@pytest.mark.parametrize("field", ["total_pay_fee", "refund_fee"])
@pytest.mark.parametrize("value", [-1, "-1500", "15.00", 15.5, True, "fifteen"])
def test_negative_or_fractional_fees_are_refused(field, value):
    assert refusal(**{field: value}).startswith(f"{field}: ")


def test_a_refund_larger_than_the_payment_is_refused():
    assert refusal(refund_fee=1501) == "refund_fee must not exceed total_pay_fee"


@pytest.mark.parametrize("value", [0, 7, "x", True])
def test_unknown_biz_types_are_refused(value):
    assert refusal(biz_type=value).startswith("biz_type: ")


@pytest.mark.parametrize("field", ["order_id", "nick", "article_code", "item_code", "order_cycle_start"])
def test_missing_fields_are_refused(field):
    content = {k: v for k, v in VALID.items() if k != field}
    with pytest.raises(BillingOrderInvalid, match=f"^{field}: "):
        parse_order(content, article_code=ARTICLE)


def test_blank_nick_and_non_numeric_order_id_are_refused():
    assert refusal(nick="  ").startswith("nick: ")
    assert refusal(order_id="A123").startswith("order_id: ")


def test_content_that_is_not_an_object_is_refused():
    with pytest.raises(BillingOrderInvalid, match="not a JSON object"):
        parse_order(["order"], article_code=ARTICLE)  # type: ignore[arg-type]


def test_a_searched_order_is_judged_by_the_same_rules():
    searched = VasOrder.from_api({**VALID, "order_cycle": "2"})
    assert parse_order(searched_order(searched), article_code=ARTICLE) == parse()
    foreign = VasOrder.from_api({**VALID, "article_code": "FW_GOODS-2000000"})
    with pytest.raises(BillingOrderInvalid, match="article_code"):
        parse_order(searched_order(foreign), article_code=ARTICLE)


secrets_like = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-:", min_size=6, max_size=20)


@given(value=secrets_like, field=st.sampled_from(["order_cycle_end", "create", "total_pay_fee", "biz_type"]))
def test_a_refusal_never_quotes_the_refused_value(value, field):
    reason = refusal(**{field: f"#{value}#"})
    assert value not in reason and reason.startswith(f"{field}: ")


@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),
    days=st.integers(1, 400),
    total=st.integers(0, 10**7),
    data=st.data(),
)
def test_any_consistent_order_round_trips(start, days, total, data):
    start = start.replace(microsecond=0, tzinfo=UTC)
    refund = data.draw(st.integers(0, total))
    end = start + timedelta(days=days)
    order = parse(
        order_cycle_start=format_top_time(start),
        order_cycle_end=format_top_time(end),
        create=format_top_time(start),
        total_pay_fee=total,
        refund_fee=refund,
    )
    assert (order.cycle_start, order.cycle_end, order.total_pay_fee, order.refund_fee) == (
        start,
        end,
        total,
        refund,
    )


@given(fee=st.integers(max_value=-1), field=st.sampled_from(["total_pay_fee", "refund_fee"]))
def test_any_negative_fee_is_refused(fee, field):
    assert refusal(**{field: fee}).startswith(f"{field}: ")

"""Order filters: each skipped trade names the filter that skipped it; unknown facts filter nothing."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.order_filters import (
    FILTER_REASONS,
    MAX_TRADE_ITEMS,
    OrderFilters,
    TradeFacts,
    is_filter_reason,
    item_ids_of,
    item_ids_text,
    skip_reason,
)
from chalicelib.marketplace.topics import TradeSuccess


def test_no_filters_skip_nothing():
    assert (
        skip_reason(OrderFilters(), TradeFacts(amount_fen=1, item_ids=("1",), item_title="x", buyer_refunded=True))
        is None
    )


@pytest.mark.parametrize(
    ("filters", "facts", "reason"),
    [
        ({"min_amount": "10"}, {"amount_fen": 999}, "filter_amount_low"),
        ({"min_amount": "10"}, {"amount_fen": 1000}, None),
        ({"max_amount": "10"}, {"amount_fen": 1001}, "filter_amount_high"),
        ({"max_amount": "10"}, {"amount_fen": 1000}, None),
        ({"min_amount": "10"}, {"amount_fen": None}, None),
        ({"include_items": ["连衣裙"]}, {"item_title": "夏季连衣裙"}, None),
        ({"include_items": ["连衣裙"]}, {"item_title": "保温杯"}, "filter_item_not_included"),
        ({"include_items": ["123"]}, {"item_ids": ("123",), "item_title": "保温杯"}, None),
        ({"include_items": ["连衣裙"]}, {}, None),
        ({"skip_items": ["样品"]}, {"item_title": "试用样品"}, "filter_item_skipped"),
        ({"skip_items": ["Cup"]}, {"item_title": "big cup"}, "filter_item_skipped"),
        ({"skip_items": ["123"]}, {"item_ids": ("1234",)}, None),
        ({"skip_items": ["123"]}, {"item_ids": ("9", "123")}, "filter_item_skipped"),
        ({"include_items": ["123"]}, {"item_ids": ("9", "123")}, None),
        ({"include_items": ["123"]}, {"item_ids": ("9", "1234")}, "filter_item_not_included"),
        ({"skip_items": ["123"]}, {"item_title": "型号123"}, None),
        ({"skip_refund_buyers": True}, {"buyer_refunded": True}, "filter_refund_buyer"),
        ({"skip_refund_buyers": True}, {"buyer_disputed": True}, None),
        ({"skip_dispute_buyers": True}, {"buyer_disputed": True}, "filter_dispute_buyer"),
        ({"skip_dispute_buyers": False}, {"buyer_disputed": True}, None),
    ],
)
def test_each_filter_says_why(filters, facts, reason):
    assert skip_reason(OrderFilters(**filters), TradeFacts(**facts)) == reason


@given(st.lists(st.integers(min_value=1, max_value=10**19), max_size=60))
def test_stored_item_ids_read_back_as_they_were_kept(ids):
    text = item_ids_text(tuple(ids))
    assert item_ids_of(text) == tuple(str(i) for i in ids[:MAX_TRADE_ITEMS])
    assert text is None or TradeSuccess(tid="1", num_iid=text).num_iid == text


def test_the_first_filter_in_order_names_the_skip():
    filters = OrderFilters(min_amount=Decimal(10), skip_items=("样品",), skip_refund_buyers=True)
    facts = TradeFacts(amount_fen=100, item_title="样品", buyer_refunded=True)
    assert skip_reason(filters, facts) == "filter_amount_low"


@pytest.mark.parametrize(
    "bad",
    [
        {"min_amount": "5", "max_amount": "4"},
        {"min_amount": "-0.01"},
        {"max_amount": "0.001"},
        {"skip_items": ["  "]},
        {"include_items": ["x" * 61]},
        {"skip_items": ["a"] * 51},
        {"unknown": 1},
    ],
)
def test_invalid_filters_are_refused(bad):
    with pytest.raises(ValidationError):
        OrderFilters(**bad)


@given(
    low=st.integers(0, 10_000),
    span=st.integers(0, 10_000),
    amount=st.integers(0, 30_000),
)
def test_an_amount_passes_exactly_inside_the_range(low, span, amount):
    filters = OrderFilters(min_amount=Decimal(low) / 100, max_amount=Decimal(low + span) / 100)
    reason = skip_reason(filters, TradeFacts(amount_fen=amount))
    assert (reason is None) == (low <= amount <= low + span)
    assert reason is None or is_filter_reason(reason)


def test_every_reason_is_a_filter_reason():
    assert all(is_filter_reason(r) for r in FILTER_REASONS) and not is_filter_reason("blacklisted")

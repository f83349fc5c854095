"""The platform serves at most 200 pages of one query: every windowed read (trades, refunds, ratings, billing orders)
splits a window with more than that into smaller windows and reads it whole (reconcile never silently stops at a
shop's 20,001st trade of a day)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.marketplace import client as top
from chalicelib.marketplace.errors import BusinessError
from sandbox.market import SandboxMarketplace
from sandbox.market import apis as sandbox_apis
from tests.sandbox_fixtures import sandbox, top_client  # noqa: F401

SELLER = "busy-shop"
PLAN = "FW_GOODS-1000000-2"


def test_a_day_with_more_trades_than_the_page_limit_is_read_whole(sandbox, top_client, monkeypatch):  # noqa: F811
    market: SandboxMarketplace = sandbox
    session = market.add_seller(SELLER).access_token
    now = market.clock()
    tids = list(range(100, 137))
    for i, tid in enumerate(tids):
        _sold(market, [tid], now - timedelta(hours=20) + timedelta(minutes=30 * i))
    monkeypatch.setattr(top, "MAX_PAGE_NO", 2)  # 2 pages of 3: 6 trades per query at most

    got = [
        trade.tid for trade in top_client.trades_sold_increment_get(session, now - timedelta(days=1), now, page_size=3)
    ]

    assert sorted(got) == tids and len(got) == len(set(got))
    assert market.calls["taobao.trades.sold.increment.get"] > len(tids) / 6  # it had to split the day


@pytest.fixture
def two_pages(monkeypatch):
    """The platform's page limit, at 2 on both sides: the sandbox refuses a third page, as the platform refuses
    page 201, so a reader that ignored the limit fails instead of stopping quietly."""
    monkeypatch.setattr(top, "MAX_PAGE_NO", 2)
    monkeypatch.setattr(sandbox_apis, "MAX_PAGE_NO", 2)


def _sold(market: SandboxMarketplace, tids: list[int], ended) -> None:
    for tid in tids:
        market.add_trade(
            SELLER,
            tid=tid,
            oid=tid * 10,
            buyer_nick=f"b{tid}",
            buyer_open_uid=f"AAH{tid}",
            payment="9.90",
            item_title="cup",
            created=ended - timedelta(days=1),
            end_time=ended,
        )


def test_the_sandbox_refuses_a_page_beyond_the_limit(sandbox, top_client, two_pages):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    now = sandbox.clock()
    with pytest.raises(BusinessError):
        top_client.trades_sold_increment_page(session, now - timedelta(hours=1), now, 3)


def test_refunds_of_a_window_with_more_than_the_page_limit_are_read_whole(sandbox, top_client, two_pages):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    tids = list(range(200, 217))
    _sold(sandbox, tids, sandbox.clock() - timedelta(days=2))
    for tid in tids:  # one refund a minute: a window of them splits down to single minutes
        sandbox.clock_ctl.advance(60)
        sandbox.refund(tid, "WAIT_SELLER_AGREE")
    now = sandbox.clock()

    got = [refund.tid for refund in top_client.refunds_receive_get(session, now - timedelta(hours=1), now, page_size=3)]

    assert sorted(got) == tids and len(got) == len(set(got))
    assert sandbox.calls["taobao.refunds.receive.get"] > len(tids) / 6


def test_ratings_of_a_window_with_more_than_the_page_limit_are_read_whole(sandbox, top_client, two_pages):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    tids = list(range(300, 317))
    _sold(sandbox, tids, sandbox.clock() - timedelta(days=2))
    for tid in tids:
        sandbox.clock_ctl.advance(60)
        sandbox.add_buyer_rate(tid, "good")
    now = sandbox.clock()

    rates = top_client.traderates_get(
        session, rate_type="get", role="buyer", start_date=now - timedelta(hours=1), end_date=now, page_size=3
    )
    got = [rate.tid for rate in rates]

    assert sorted(got) == tids and len(got) == len(set(got))
    assert sandbox.calls["taobao.traderates.get"] > len(tids) / 6


def test_billing_orders_of_a_window_with_more_than_the_page_limit_are_read_whole(sandbox, top_client, two_pages):  # noqa: F811
    start = sandbox.clock()
    created = [start + timedelta(minutes=i) for i in range(17)]
    orders = [
        sandbox.sell_subscription(f"shop{i}", PLAN, 1, at, at + timedelta(days=30), 1500, create=at)
        for i, at in enumerate(created)
    ]

    got = [
        order.order_id
        for order in top_client.vas_order_search(
            sandbox.article_code, start_created=start - timedelta(minutes=1), end_created=created[-1], page_size=3
        )
    ]

    assert sorted(got) == sorted(int(order["order_id"]) for order in orders) and len(got) == len(set(got))
    assert sandbox.calls["taobao.vas.order.search"] > len(orders) / 6

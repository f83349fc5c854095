"""The platform serves at most 200 pages of one query: a day with more trades than that is split into smaller
windows and read whole (reconcile never silently stops at a shop's 20,001st trade of a day)."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.marketplace import client as top
from sandbox.market import SandboxMarketplace
from tests.sandbox_fixtures import sandbox, top_client  # noqa: F401

SELLER = "busy-shop"


def test_a_day_with_more_trades_than_the_page_limit_is_read_whole(sandbox, top_client, monkeypatch):  # noqa: F811
    market: SandboxMarketplace = sandbox
    session = market.add_seller(SELLER).access_token
    now = market.clock()
    tids = list(range(100, 137))
    for i, tid in enumerate(tids):
        ended = now - timedelta(hours=20) + timedelta(minutes=30 * i)
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
    monkeypatch.setattr(top, "MAX_PAGE_NO", 2)  # 2 pages of 3: 6 trades per query at most

    got = [
        trade.tid for trade in top_client.trades_sold_increment_get(session, now - timedelta(days=1), now, page_size=3)
    ]

    assert sorted(got) == tids and len(got) == len(set(got))
    assert market.calls["taobao.trades.sold.increment.get"] > len(tids) / 6  # it had to split the day

"""Windowed reads respect every documented limit: ``taobao.traderates.get`` serves at most 1,500 records of one time
window (the sandbox cuts there, answering past it with an empty page or a refusal; the client splits on either and
never stops short), and ``taobao.trades.sold.increment.get`` is read from its last page back, so trades that change
while the client pages are never missed."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from chalicelib.marketplace import client as top
from sandbox.market import SandboxMarketplace
from sandbox.market import apis as sandbox_apis
from tests.sandbox_fixtures import sandbox, top_client  # noqa: F401

SELLER = "rated-shop"
FIRST_TID = 4_100_000_000_000


def _rated(market: SandboxMarketplace, count: int) -> list[int]:
    """``count`` trades, each rated by its buyer thirty seconds after the last."""
    tids = [FIRST_TID + i for i in range(count)]
    ended = market.clock() - timedelta(days=3)
    for tid in tids:
        market.add_trade(
            SELLER,
            tid=tid,
            oid=tid * 10,
            buyer_nick=f"b{tid}",
            buyer_open_uid=f"AAH{tid}",
            payment="9.90",
            item_title="杯子",
            created=ended - timedelta(days=1),
            end_time=ended,
        )
        market.clock_ctl.advance(30)
        market.add_buyer_rate(tid, "good")
    return tids


def _received(client, session: str, market: SandboxMarketplace, page_size: int) -> list[int]:
    now = market.clock()
    rates = client.traderates_get(
        session, rate_type="get", role="buyer", start_date=now - timedelta(days=2), end_date=now, page_size=page_size
    )
    return [rate.tid for rate in rates]


@pytest.mark.parametrize("past_limit", ["empty", "error"])
@pytest.mark.parametrize("page_size", [40, 150])
@pytest.mark.parametrize("count", [1499, 1500, 1501, 1600])
def test_ratings_past_1500_in_a_window_are_read_whole(sandbox, top_client, monkeypatch, past_limit, page_size, count):  # noqa: F811
    monkeypatch.setattr(sandbox_apis, "PAST_RATE_LIMIT", past_limit)
    session = sandbox.add_seller(SELLER).access_token
    tids = _rated(sandbox, count)

    got = _received(top_client, session, sandbox, page_size)

    assert sorted(got) == tids and len(got) == len(set(got))
    pages_of_one_window = -(-count // page_size)
    calls = sandbox.calls["taobao.traderates.get"]
    if count < top.MAX_RATES_PER_WINDOW and (past_limit == "empty" or top.MAX_RATES_PER_WINDOW % page_size == 0):
        assert calls == pages_of_one_window  # below the limit, nothing refused: one window, no split
    elif count >= top.MAX_RATES_PER_WINDOW:
        assert calls > pages_of_one_window  # at or past it: the window was read again as halves


@pytest.mark.parametrize("past_limit", ["empty", "error"])
def test_the_sandbox_serves_no_rating_past_the_1500th_of_a_query(sandbox, top_client, monkeypatch, past_limit):  # noqa: F811
    """A reader that follows ``has_next`` alone stops at 1,500 (the platform's limit the client must work around)."""
    monkeypatch.setattr(sandbox_apis, "PAST_RATE_LIMIT", past_limit)
    session = sandbox.add_seller(SELLER).access_token
    _rated(sandbox, 1501)
    now = sandbox.clock()
    params = {
        "fields": top.TRADE_RATE_FIELDS,
        "rate_type": "get",
        "role": "buyer",
        "start_date": now - timedelta(days=2),
        "end_date": now,
        "page_size": 40,
    }

    def page(page_no: int):
        return top_client._page("taobao.traderates.get", params, session, "trade_rates", "trade_rate", page_no)

    naive = []
    for page_no in range(1, 38):
        items, more = page(page_no)
        naive += items
    assert len(naive) == 1480 and more
    if past_limit == "error":  # the page reaching past the 1,500th record is refused
        with pytest.raises(top.BusinessError):
            page(38)
    else:  # it is cut short, says nothing follows, and the next is empty
        items, more = page(38)
        assert len(items) == 20 and not more
        assert page(39) == ([], False)


def test_a_window_at_the_page_limit_is_split_and_one_below_it_is_not(sandbox, top_client, monkeypatch):  # noqa: F811
    """The page limit's boundary: 2 pages of 3 serve 6 ratings; 5 need no split, 6 and 7 are read as halves."""
    monkeypatch.setattr(top, "MAX_PAGE_NO", 2)
    monkeypatch.setattr(sandbox_apis, "MAX_PAGE_NO", 2)
    session = sandbox.add_seller(SELLER).access_token
    tids = _rated(sandbox, 7)
    now = sandbox.clock()

    def read(last: int) -> tuple[list[int], int]:
        before = sandbox.calls["taobao.traderates.get"]
        end = now - timedelta(seconds=30 * (7 - last))  # the window holding the first ``last`` ratings
        rates = top_client.traderates_get(
            session, rate_type="get", role="buyer", start_date=now - timedelta(days=2), end_date=end, page_size=3
        )
        got = [rate.tid for rate in rates]
        return got, sandbox.calls["taobao.traderates.get"] - before

    for last, split in ((5, False), (6, True), (7, True)):
        got, calls = read(last)
        assert sorted(got) == tids[:last] and len(got) == len(set(got))
        assert (calls > 2) is split


# -- trades.sold.increment.get: newest first, read from the last page back ----------------------------------------


def _finished(market: SandboxMarketplace, count: int) -> list[int]:
    """``count`` finished trades, one every five minutes, the last an hour before now."""
    now = market.clock()
    tids = [FIRST_TID + i for i in range(count)]
    for i, tid in enumerate(tids):
        ended = now - timedelta(hours=1) - timedelta(minutes=5 * (count - i))
        market.add_trade(
            SELLER,
            tid=tid,
            oid=tid * 10,
            buyer_nick=f"b{tid}",
            buyer_open_uid=f"AAH{tid}",
            payment="9.90",
            item_title="杯子",
            created=ended - timedelta(days=1),
            end_time=ended,
        )
    return tids


def test_the_sandbox_lists_the_newest_change_first(sandbox, top_client):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    tids = _finished(sandbox, 5)
    now = sandbox.clock()
    trades, total = top_client.trades_sold_increment_page(session, now - timedelta(hours=5), now, 1, page_size=5)
    assert [trade.tid for trade in trades] == tids[::-1] and total == 5


class Changer:
    """Changes trades of the window on the marketplace after every page the client reads, as sellers and buyers do:
    a changed trade's ``modified`` becomes now, past the window's end, so it leaves the window and the trades behind
    it move a place towards page 1."""

    def __init__(self, market: SandboxMarketplace, monkeypatch, seed: int) -> None:
        self.market = market
        self.rng = random.Random(seed)
        self.changed: list[int] = []
        self.window: tuple | None = None
        serve = market.handle_rest

        def handle_rest(params: dict[str, str]):
            reply = serve(params)
            if params.get("method") == "taobao.trades.sold.increment.get" and self.window is not None:
                self._change_one()
            return reply

        monkeypatch.setattr(market, "handle_rest", handle_rest)

    def _change_one(self) -> None:
        lo, hi = self.window
        listed = self.market.state.trades_modified(SELLER, lo, hi, "TRADE_FINISHED")
        if listed:
            # Mostly the newest (on page 1, which a forward reader has already read), sometimes any other.
            tid = listed[0]["tid"] if self.rng.random() < 0.6 else self.rng.choice(listed)["tid"]
            self.market.clock_ctl.advance(1)
            self.market.set_trade_status(tid, "TRADE_FINISHED")
            self.changed.append(tid)


@pytest.mark.parametrize("seed", range(4))
def test_no_trade_is_missed_when_trades_change_while_the_client_pages(sandbox, top_client, monkeypatch, seed):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    tids = _finished(sandbox, 47)
    now = sandbox.clock()
    lo, hi = now - timedelta(hours=6), now - timedelta(minutes=30)
    changer = Changer(sandbox, monkeypatch, seed)
    changer.window = (lo, hi)

    got = [trade.tid for trade in top_client.trades_sold_increment_get(session, lo, hi, page_size=5)]

    changed = set(changer.changed)
    assert changed  # trades did change while the client paged
    assert set(tids) - changed <= set(got)  # every trade that stayed in the window was read
    assert len(got) == len(set(got))
    # The changed ones are in the window of their change, which the next read covers.
    changer.window = None
    later = {trade.tid for trade in top_client.trades_sold_increment_get(session, hi, sandbox.clock(), page_size=5)}
    assert changed <= later
    assert set(tids) <= set(got) | later


def test_a_forward_reader_misses_trades_that_change_while_it_pages(sandbox, top_client, monkeypatch):  # noqa: F811
    """Why the order matters: reading page 1 onwards under the same changes loses trades (the test above can fail)."""
    session = sandbox.add_seller(SELLER).access_token
    tids = _finished(sandbox, 47)
    now = sandbox.clock()
    lo, hi = now - timedelta(hours=6), now - timedelta(minutes=30)
    changer = Changer(sandbox, monkeypatch, 0)
    changer.window = (lo, hi)

    got: list[int] = []
    page_no = 1
    while True:
        trades, total = top_client.trades_sold_increment_page(session, lo, hi, page_no, page_size=5)
        got += [trade.tid for trade in trades]
        if page_no * 5 >= total:
            break
        page_no += 1

    assert set(tids) - set(changer.changed) - set(got)  # some unchanged trades were never read

"""``taobao.trade.memo.update`` on the sandbox gateway, as documented: ``tid`` (Long) required, ``memo`` at most 1000
UTF-8 bytes, ``flag`` 0-5, ``reset`` clears; only the seller's own trade; the answer ``trade {tid, modified}``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.marketplace import errors as mkt
from chalicelib.marketplace.errors import TopCode
from tests.sandbox_fixtures import sandbox, top_client  # noqa: F401

SELLER = "memo-shop"


def _trade(market, tid: int, seller: str = SELLER) -> None:
    market.add_trade(
        seller,
        tid=tid,
        oid=tid * 10,
        buyer_nick="b",
        buyer_open_uid=f"AAH{tid}",
        payment="9.90",
        item_title="cup",
        created=market.clock() - timedelta(hours=1),
        end_time=None,
        status="WAIT_SELLER_SEND_GOODS",
    )


def test_the_memo_and_its_flag_are_set_and_answered_with_the_trade(sandbox, top_client) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    _trade(sandbox, 81)
    done = top_client.trade_memo_update(account.access_token, 81, memo="差评师预警", flag=1)
    assert done.tid == 81 and done.modified is not None
    assert sandbox.memo_of(81) == ("差评师预警", 1)


@pytest.mark.parametrize(
    ("memo", "flag", "field"),
    [("字" * 334, 1, "memo"), ("ok", 6, "flag"), ("ok", -1, "flag")],  # 334 Chinese characters are 1002 bytes
)
def test_a_memo_over_1000_bytes_or_a_flag_outside_0_to_5_is_refused(sandbox, top_client, memo, flag, field) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    _trade(sandbox, 82)
    with pytest.raises(mkt.MarketplaceError) as refused:
        top_client.trade_memo_update(account.access_token, 82, memo=memo, flag=flag)
    assert refused.value.code == TopCode.INVALID_ARGUMENTS and field in (refused.value.sub_code or "")
    assert sandbox.memo_of(82) is None


def test_another_sellers_trade_is_not_found(sandbox, top_client) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    sandbox.add_seller("other-shop")
    _trade(sandbox, 83, seller="other-shop")
    with pytest.raises(mkt.TradeNotFound):
        top_client.trade_memo_update(account.access_token, 83, memo="x", flag=1)
    assert sandbox.memo_of(83) is None


def test_exactly_1000_bytes_is_accepted(sandbox, top_client) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    _trade(sandbox, 84)
    top_client.trade_memo_update(account.access_token, 84, memo="字" * 333 + "a", flag=0)
    assert sandbox.memo_of(84) == ("字" * 333 + "a", 0)

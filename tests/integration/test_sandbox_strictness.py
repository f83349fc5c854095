"""The sandbox answers as the platform does where it used to be laxer: ``traderate.add`` requires ``role``,
``simplify=true`` drops the ``*_response`` wrapper, refund ids are Longs and service-market fees are strings in fen
(docs/platform.md gives each fact's source). The client reads the platform's shapes."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import urllib3

from chalicelib.marketplace import signing
from chalicelib.marketplace.errors import TopCode
from chalicelib.marketplace.models import format_top_time
from tests.sandbox_fixtures import APP_KEY, APP_SECRET, sandbox, top_client  # noqa: F401

SELLER = "strict-shop"
TID = 4_200_000_000_001


def _call(market, method: str, api: dict[str, str], **system: str) -> dict:
    params = {
        "method": method,
        "app_key": APP_KEY,
        "timestamp": format_top_time(market.clock()),
        "v": "2.0",
        "format": "json",
        "sign_method": "md5",
        **system,
        **api,
    }
    params["sign"] = signing.sign(params, APP_SECRET, "md5")
    response = urllib3.request(
        "POST",
        f"{market.base_url}/router/rest",
        body=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
    )
    return response.json()


def _trade(market) -> None:
    ended = market.clock() - timedelta(days=1)
    market.add_trade(
        SELLER,
        tid=TID,
        oid=TID * 10,
        buyer_nick="tb_buyer",
        buyer_open_uid="AAHbuyer",
        payment="19.90",
        item_title="杯子",
        created=ended - timedelta(days=2),
        end_time=ended,
    )


def test_a_rating_without_role_is_refused_and_nothing_is_rated(sandbox):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    _trade(sandbox)

    answer = _call(sandbox, "taobao.traderate.add", {"tid": str(TID), "result": "good"}, session=session)

    assert answer["error_response"]["code"] == TopCode.MISSING_REQUIRED_ARGUMENTS
    assert "role" in answer["error_response"]["msg"] and sandbox.post_counts(TID) == 0
    posted = _call(
        sandbox, "taobao.traderate.add", {"tid": str(TID), "result": "good", "role": "seller"}, session=session
    )
    assert posted["traderate_add_response"]["trade_rate"]["tid"] == TID and sandbox.post_counts(TID) == 1


def test_the_client_always_sends_role(sandbox, top_client):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    _trade(sandbox)
    assert top_client.traderate_add(session, TID).tid == TID


def test_simplify_answers_without_the_response_wrapper_and_with_bare_lists(sandbox):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    _trade(sandbox)
    sandbox.add_buyer_rate(TID, "good", "很好")
    query = {"fields": "tid,oid,result,content", "rate_type": "get", "role": "buyer", "use_has_next": "true"}

    wrapped = _call(sandbox, "taobao.traderates.get", query, session=session)
    simple = _call(sandbox, "taobao.traderates.get", query, session=session, simplify="true")

    assert wrapped["traderates_get_response"]["trade_rates"]["trade_rate"][0]["tid"] == TID
    assert "traderates_get_response" not in simple
    assert simple["trade_rates"][0] == {"tid": TID, "oid": TID * 10, "result": "good", "content": "很好"}
    assert simple["has_next"] is False
    refused = _call(sandbox, "taobao.traderate.add", {"tid": str(TID)}, session=session, simplify="true")
    assert refused["error_response"]["code"] == TopCode.MISSING_REQUIRED_ARGUMENTS


def test_refund_ids_are_longs(sandbox, top_client):  # noqa: F811
    session = sandbox.add_seller(SELLER).access_token
    _trade(sandbox)
    sandbox.refund(TID, "WAIT_SELLER_AGREE")
    now = sandbox.clock()
    query = {
        "fields": "refund_id,tid,status",
        "start_modified": format_top_time(now - timedelta(hours=1)),
        "end_modified": format_top_time(now),
    }

    answer = _call(sandbox, "taobao.refunds.receive.get", query, session=session)

    refund_id = answer["refunds_receive_get_response"]["refunds"]["refund"][0]["refund_id"]
    assert isinstance(refund_id, int) and not isinstance(refund_id, bool)
    (read,) = top_client.refunds_receive_get(session, now - timedelta(hours=1), now)
    assert read.refund_id == str(refund_id) and read.tid == TID


def test_service_market_fees_are_strings_in_fen(sandbox, top_client):  # noqa: F811
    start = sandbox.clock()
    sandbox.sell_subscription(
        "fee-shop", "FW_GOODS-1000000-2", 1, start, start + timedelta(days=30), 1500, create=start
    )
    query = {
        "article_code": sandbox.article_code,
        "start_created": format_top_time(start - timedelta(minutes=1)),
        "end_created": format_top_time(start + timedelta(minutes=1)),
    }

    answer = _call(sandbox, "taobao.vas.order.search", query)

    (order,) = answer["vas_order_search_response"]["article_biz_orders"]["article_biz_order"]
    assert (order["fee"], order["prom_fee"], order["total_pay_fee"], order["refund_fee"]) == ("1500", "0", "1500", "0")
    (read,) = top_client.vas_order_search(
        sandbox.article_code, start_created=start - timedelta(minutes=1), end_created=start + timedelta(minutes=1)
    )
    assert (read.total_pay_fee, read.fee, read.refund_fee) == (1500, 1500, 0)

"""The TOP client, OAuth client and push publisher over HTTP against the sandbox marketplace."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import urllib3

from chalicelib.marketplace import errors, signing
from chalicelib.marketplace.client import TopClient
from chalicelib.marketplace.errors import (
    AlreadyRated,
    GrantRefused,
    InvalidArgument,
    OAuthError,
    PermissionDenied,
    RateWindowClosed,
    RequestRejected,
    SessionInvalid,
    Throttled,
    TradeNotFinished,
    TradeNotFound,
    Transient,
)
from chalicelib.marketplace.messages import TOPIC_TRADE_SUCCESS, build_message, parse_batch
from chalicelib.marketplace.models import format_top_time, parse_top_time
from chalicelib.marketplace.oauth import OAuthClient
from sandbox.market import FakeClock, Publisher, PushChannel, SandboxMarketplace
from tests.sandbox_fixtures import (
    APP_KEY,
    APP_SECRET,
    RecordingSleep,
    make_client,
    sandbox,  # noqa: F401
    started_sandbox,
    top_client,  # noqa: F401
)

SELLER = "good-shop"
ARTICLE = "FW_GOODS-1000000"
REDIRECT = "https://app.example/oauth/callback"


def _trade(market: SandboxMarketplace, tid: int, *, oid: int | list[int] | None = None, ago_days: float = 1, **extra):
    now = market.clock()
    fields = {
        "tid": tid,
        "oid": oid if oid is not None else tid * 10,
        "buyer_nick": f"buyer{tid}",
        "buyer_open_uid": f"AAH{tid}",
        "payment": "59.90",
        "item_title": "tea cup",
        "created": now - timedelta(days=ago_days + 2),
        "end_time": now - timedelta(days=ago_days),
        **extra,
    }
    return market.add_trade(SELLER, **fields)


def _fresh_session(market: SandboxMarketplace, nick: str = SELLER) -> str:
    """A new session for a seller whose earlier one has expired (the seller authorized again)."""
    return market.auth.exchange(market.auth.authorize(nick, REDIRECT), REDIRECT)["access_token"]


@pytest.fixture
def seller(sandbox: SandboxMarketplace) -> str:  # noqa: F811
    """A seller's session token."""
    return sandbox.add_seller(SELLER).access_token


# -- ratings ---------------------------------------------------------------------------------------


def test_rate_a_finished_trade(sandbox, top_client, seller) -> None:  # noqa: F811
    _trade(sandbox, 1)
    added = top_client.traderate_add(seller, 1, content="Thank you!")
    assert (added.tid, added.oid, added.created) == (1, 10, sandbox.clock())
    [given] = sandbox.rates_given(SELLER)
    assert (given["tid"], given["result"], given["content"], given["rated_nick"]) == (1, "good", "Thank you!", "buyer1")
    assert sandbox.post_counts(1) == 1


def test_second_rating_is_already_rated_and_not_retried(sandbox, top_client, seller) -> None:  # noqa: F811
    _trade(sandbox, 1)
    top_client.traderate_add(seller, 1)
    with pytest.raises(AlreadyRated) as caught:
        top_client.traderate_add(seller, 1)
    assert caught.value.sub_code == errors.SUB_RATE_ALREADY_EXIST
    assert sandbox.post_counts(1) == 1
    assert sandbox.calls["taobao.traderate.add"] == 2


def test_rating_sub_orders(sandbox, top_client, seller) -> None:  # noqa: F811
    _trade(sandbox, 2, oid=[21, 22])
    assert top_client.traderate_add(seller, 2, oid=22).oid == 22
    with pytest.raises(AlreadyRated):
        top_client.traderate_add(seller, 2)  # the whole trade includes the rated sub-order
    assert top_client.traderate_add(seller, 2, oid=21).oid == 21
    assert sorted(r["oid"] for r in sandbox.rates_given(SELLER)) == [21, 22]
    with pytest.raises(TradeNotFound):
        top_client.traderate_add(seller, 2, oid=99)


def test_unfinished_trade_cannot_be_rated_until_it_finishes(sandbox, top_client, seller) -> None:  # noqa: F811
    _trade(sandbox, 3, status="WAIT_BUYER_CONFIRM_GOODS", end_time=None)
    with pytest.raises(TradeNotFinished):
        top_client.traderate_add(seller, 3)
    sandbox.set_trade_status(3, "TRADE_FINISHED")
    assert top_client.traderate_add(seller, 3).tid == 3


def test_rating_window_closes_by_clock(sandbox, top_client, seller) -> None:  # noqa: F811
    _trade(sandbox, 4, ago_days=0)
    sandbox.clock_ctl.advance(15 * 86400 + 1)
    with pytest.raises(RateWindowClosed):
        top_client.traderate_add(_fresh_session(sandbox), 4)
    assert sandbox.post_counts(4) == 0


def test_unknown_or_foreign_trade_is_not_found(sandbox, top_client, seller) -> None:  # noqa: F811
    other = sandbox.add_seller("other-shop").access_token
    _trade(sandbox, 5)
    with pytest.raises(TradeNotFound):
        top_client.traderate_add(seller, 404)
    with pytest.raises(TradeNotFound):
        top_client.traderate_add(other, 5)


@pytest.mark.parametrize(
    ("kwargs", "sub_code"),
    [
        ({"content": "x" * 501}, "isv.invalid-parameter:content"),
        ({"result": "bad"}, "isv.invalid-parameter:content"),
        ({"result": "superb"}, "isv.invalid-parameter:result"),
        ({"role": "buyer"}, "isv.invalid-parameter:role"),
    ],
)
def test_invalid_rating_arguments(sandbox, top_client, seller, kwargs, sub_code) -> None:  # noqa: F811
    _trade(sandbox, 6)
    with pytest.raises(InvalidArgument) as caught:
        top_client.traderate_add(seller, 6, **kwargs)
    assert caught.value.sub_code == sub_code
    assert sandbox.calls["taobao.traderate.add"] == 1


def test_missing_required_argument_is_invalid(sandbox, top_client, seller) -> None:  # noqa: F811
    with pytest.raises(InvalidArgument) as caught:
        top_client.call("taobao.traderate.add", {"result": "good"}, seller)
    assert caught.value.code == 40


def test_explain_a_buyer_rating(sandbox, top_client, seller) -> None:  # noqa: F811
    _trade(sandbox, 7)
    sandbox.add_buyer_rate(7, "bad", "slow delivery")
    assert top_client.traderate_explain_add(seller, 70, "Sorry, we changed couriers.") is True
    [received] = top_client.traderates_get(seller, rate_type="get", role="buyer")
    assert (received.tid, received.result, received.reply) == (7, "bad", "Sorry, we changed couriers.")
    assert (received.nick, received.rated_nick) == ("buyer7", SELLER)
    assert "buyer7" not in repr(received)
    with pytest.raises(AlreadyRated):
        top_client.traderate_explain_add(seller, 70, "again")
    with pytest.raises(TradeNotFound):
        top_client.traderate_explain_add(seller, 71, "no rating here")


def test_explanation_window_closes_by_clock(sandbox, top_client, seller) -> None:  # noqa: F811
    _trade(sandbox, 8)
    sandbox.add_buyer_rate(8, "neutral", "ok")
    sandbox.clock_ctl.advance(30 * 86400 + 1)
    with pytest.raises(RateWindowClosed):
        top_client.traderate_explain_add(_fresh_session(sandbox), 80, "late")


def test_traderates_pages_newest_first_with_filters(sandbox, top_client, seller) -> None:  # noqa: F811
    for tid in range(10, 17):
        _trade(sandbox, tid)
        top_client.traderate_add(seller, tid)
        sandbox.clock_ctl.advance(60)
    rates = list(top_client.traderates_get(seller, rate_type="give", role="seller", page_size=3))
    assert [r.tid for r in rates] == list(range(16, 9, -1))
    assert sandbox.calls["taobao.traderates.get"] == 3
    assert all(r.role == "seller" and r.result == "good" and r.valid_score for r in rates)
    window = list(
        top_client.traderates_get(seller, start_date=rates[4].created, end_date=rates[2].created, page_size=150)
    )
    assert [r.tid for r in window] == [14, 13, 12]
    assert [r.tid for r in top_client.traderates_get(seller, tid=11)] == [11]
    assert list(top_client.traderates_get(seller, rate_type="get", role="buyer")) == []


# -- trades ----------------------------------------------------------------------------------------


def test_increment_spans_days_without_duplicates(sandbox, top_client, seller) -> None:  # noqa: F811
    for tid, ago in ((20, 0.5), (21, 1.0), (22, 2.0), (23, 2.5), (24, 3.5)):
        _trade(sandbox, tid, ago_days=ago)
    _trade(sandbox, 25, ago_days=1.5, status="TRADE_CLOSED")
    now = sandbox.clock()
    trades = list(top_client.trades_sold_increment_get(seller, now - timedelta(days=3), now, page_size=1))
    assert [t.tid for t in trades] == [23, 22, 21, 20]
    first = trades[-1]
    assert (first.oids, first.oid, first.payment, first.item_title) == ((200,), 200, 5990, "tea cup")
    assert (first.buyer_nick, first.buyer_open_uid, first.status) == ("buyer20", "AAH20", "TRADE_FINISHED")
    assert first.end_time == now - timedelta(days=0.5)
    assert "buyer20" not in repr(first)
    everything = top_client.trades_sold_increment_get(seller, now - timedelta(days=3), now, status=None)
    assert sorted(t.tid for t in everything) == [20, 21, 22, 23, 25]


def test_increment_window_over_a_day_is_refused(sandbox, top_client, seller) -> None:  # noqa: F811
    now = sandbox.clock()
    params = {"fields": "tid", "start_modified": now - timedelta(days=2), "end_modified": now}
    with pytest.raises(InvalidArgument):
        top_client.call("taobao.trades.sold.increment.get", params, seller)


# -- service market --------------------------------------------------------------------------------


def test_subscriptions_follow_paid_unrefunded_orders(sandbox, top_client) -> None:  # noqa: F811
    now = sandbox.clock()
    assert top_client.vas_subscribe_get(ARTICLE, SELLER) == []
    sandbox.sell_subscription(SELLER, f"{ARTICLE}-1", 1, now, now + timedelta(days=30), 1500)
    renewal = sandbox.sell_subscription(
        SELLER, f"{ARTICLE}-1", 2, now + timedelta(days=30), now + timedelta(days=60), 1500
    )
    [subscription] = top_client.vas_subscribe_get(ARTICLE, SELLER)
    assert (subscription.item_code, subscription.deadline) == (f"{ARTICLE}-1", now + timedelta(days=60))
    sandbox.refund_order(renewal["order_id"], 1500)
    assert top_client.vas_subscribe_get(ARTICLE, SELLER)[0].deadline == now + timedelta(days=30)


def test_order_search_pages_and_types_fields(sandbox, top_client) -> None:  # noqa: F811
    start = sandbox.clock()
    for n in range(5):
        sandbox.sell_subscription(f"shop{n % 2}", f"{ARTICLE}-1", 1, start, start + timedelta(days=30), 1500 + n)
        sandbox.clock_ctl.advance(3600)
    sandbox.refund_order(7_000_000_002, 700)
    end = sandbox.clock()
    orders = list(top_client.vas_order_search(ARTICLE, start_created=start, end_created=end, page_size=2))
    assert [o.total_pay_fee for o in orders] == [1500, 1501, 1502, 1503, 1504]
    assert sandbox.calls["taobao.vas.order.search"] == 3
    second = orders[1]
    assert (second.order_id, second.nick, second.biz_type, second.refund_fee) == (7_000_000_002, "shop1", 1, 700)
    assert (second.order_cycle_start, second.order_cycle_end) == (start, start + timedelta(days=30))
    assert second.create == start + timedelta(hours=1)
    assert second.order_cycle == "2"
    mine = top_client.vas_order_search(ARTICLE, start_created=start, end_created=end, nick="shop0")
    assert [o.total_pay_fee for o in mine] == [1500, 1502, 1504]


# -- protocol --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_every_sign_method_is_accepted(sandbox, seller, sign_method) -> None:  # noqa: F811
    _trade(sandbox, 30)
    client = make_client(sandbox, sign_method=sign_method)
    assert client.traderate_add(seller, 30).tid == 30


def test_system_params_in_query_and_epoch_ms_timestamp(sandbox, seller) -> None:  # noqa: F811
    _trade(sandbox, 31)
    system = {
        "method": "taobao.traderate.add",
        "app_key": APP_KEY,
        "session": seller,
        "timestamp": str(int(sandbox.clock().timestamp() * 1000)),
        "format": "json",
        "v": "2.0",
        "sign_method": "hmac",
    }
    api = {"tid": "31", "result": "good", "role": "seller"}
    system["sign"] = signing.sign({**system, **api}, APP_SECRET, "hmac")
    response = urllib3.request(
        "POST",
        f"{sandbox.base_url}/router/rest?{urlencode(system)}",
        body=urlencode(api),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["traderate_add_response"]["trade_rate"]["tid"] == 31


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"app_secret": "wrong"}, 25),
        ({"app_key": "999"}, 29),
    ],
)
def test_bad_credentials_are_rejected(sandbox, overrides, code) -> None:  # noqa: F811
    options = {"app_key": APP_KEY, "app_secret": APP_SECRET, **overrides}
    client = TopClient(sandbox.base_url, options["app_key"], options["app_secret"], now=sandbox.clock)
    with pytest.raises(RequestRejected) as caught:
        client.vas_subscribe_get(ARTICLE, SELLER)
    assert caught.value.code == code


def test_clock_skew_over_ten_minutes_is_rejected(sandbox) -> None:  # noqa: F811
    client = make_client(sandbox, now=lambda: sandbox.clock() - timedelta(minutes=11))
    with pytest.raises(RequestRejected) as caught:
        client.vas_subscribe_get(ARTICLE, SELLER)
    assert caught.value.code == 31
    assert (
        make_client(sandbox, now=lambda: sandbox.clock() + timedelta(minutes=9)).vas_subscribe_get(ARTICLE, "x") == []
    )


def test_unknown_method_is_rejected(top_client) -> None:  # noqa: F811
    with pytest.raises(RequestRejected) as caught:
        top_client.call("taobao.item.price.update", {"num_iid": 1})
    assert caught.value.code == 22


# -- sessions --------------------------------------------------------------------------------------


def test_sessions_must_exist_and_expire_by_clock(sandbox, top_client, seller) -> None:  # noqa: F811
    _trade(sandbox, 40, ago_days=0)
    with pytest.raises(SessionInvalid) as missing:
        top_client.call("taobao.traderate.add", {"tid": 40, "result": "good"})
    assert missing.value.code == 26
    with pytest.raises(SessionInvalid) as unknown:
        top_client.traderate_add("not-a-session", 40)
    assert (unknown.value.code, unknown.value.sub_code) == (27, "invalid-sessionkey")
    sandbox.clock_ctl.advance(86400)
    with pytest.raises(SessionInvalid):
        top_client.traderate_add(seller, 40)
    assert sandbox.calls["taobao.traderate.add"] == 3


# -- retries and faults ----------------------------------------------------------------------------


def test_transient_errors_are_retried_with_growing_backoff(sandbox) -> None:  # noqa: F811
    sleep = RecordingSleep()
    client = make_client(sandbox, sleep=sleep, max_retries=3, backoff_base=0.2)
    sandbox.faults.set("taobao.vas.subscribe.get", error_rate=1.0)
    with pytest.raises(Transient) as caught:
        client.vas_subscribe_get(ARTICLE, SELLER)
    assert caught.value.sub_code == errors.SUB_REMOTE_SERVICE_ERROR
    assert sandbox.calls["taobao.vas.subscribe.get"] == 4
    assert (client.stats.calls, client.stats.attempts, client.stats.retries) == (1, 4, 3)
    assert len(sleep.delays) == 3
    for attempt, delay in enumerate(sleep.delays):
        assert 0.1 * 2**attempt <= delay <= 0.2 * 2**attempt


def test_flaky_calls_succeed_after_retries(sandbox) -> None:  # noqa: F811
    client = make_client(sandbox, max_retries=6)
    sandbox.faults.set(error_rate=0.5)
    for _ in range(10):
        assert client.vas_subscribe_get(ARTICLE, SELLER) == []
    assert client.stats.retries > 0
    assert sandbox.calls["taobao.vas.subscribe.get"] == 10 + client.stats.retries


@pytest.mark.parametrize(
    ("fault", "expected", "code"),
    [
        ({"error_code": 11, "error_sub_code": None}, PermissionDenied, 11),
        ({"error_code": 12, "error_sub_code": "isv.permission-denied"}, PermissionDenied, 12),
        ({"error_code": 27, "error_sub_code": "invalid-sessionkey"}, SessionInvalid, 27),
        ({"error_code": 15, "error_sub_code": "isv.some-business-rule"}, errors.BusinessError, 15),
    ],
)
def test_other_errors_are_not_retried(sandbox, fault, expected, code) -> None:  # noqa: F811
    client = make_client(sandbox, max_retries=3)
    sandbox.faults.set(error_rate=1.0, **fault)
    with pytest.raises(expected) as caught:
        client.vas_subscribe_get(ARTICLE, SELLER)
    assert type(caught.value) is expected
    assert caught.value.code == code
    assert sandbox.calls["taobao.vas.subscribe.get"] == 1


@pytest.mark.parametrize(
    ("fault", "sub_code"),
    [
        ({"malformed": True}, errors.SUB_CLIENT_MALFORMED),
        ({"truncated": True}, errors.SUB_CLIENT_TRANSPORT),
        (
            {"outage": (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))},
            errors.SUB_CLIENT_HTTP_STATUS,
        ),
        ({"latency_ms": 300}, errors.SUB_CLIENT_TRANSPORT),
    ],
)
def test_broken_responses_are_transient(sandbox, fault, sub_code) -> None:  # noqa: F811
    client = make_client(sandbox, max_retries=1, read_timeout=0.1)
    sandbox.faults.set("taobao.vas.order.search", **fault)
    with pytest.raises(Transient) as caught:
        list(client.vas_order_search(ARTICLE, start_created=sandbox.clock(), end_created=sandbox.clock()))
    assert caught.value.sub_code == sub_code
    assert sandbox.calls["taobao.vas.order.search"] == 2
    sandbox.faults.clear()
    assert list(client.vas_order_search(ARTICLE, start_created=sandbox.clock(), end_created=sandbox.clock())) == []


def test_outage_ends_by_clock(sandbox, top_client) -> None:  # noqa: F811
    now = sandbox.clock()
    sandbox.faults.set(outage=(now, now + timedelta(minutes=5)))
    with pytest.raises(Transient):
        top_client.vas_subscribe_get(ARTICLE, SELLER)
    sandbox.clock_ctl.advance(300)
    assert top_client.vas_subscribe_get(ARTICLE, SELLER) == []


def test_unreachable_gateway_is_transient() -> None:
    market = started_sandbox()
    client = make_client(market, max_retries=1, connect_timeout=0.5)
    market.stop()
    with pytest.raises(Transient) as caught:
        client.vas_subscribe_get(ARTICLE, SELLER)
    assert caught.value.sub_code == errors.SUB_CLIENT_TRANSPORT
    assert client.stats.attempts == 2


def test_faults_over_http(sandbox, top_client) -> None:  # noqa: F811
    admin = f"{sandbox.base_url}/admin/faults"
    set_response = urllib3.request("POST", admin, json={"api": "taobao.vas.subscribe.get", "ban_seconds": 90})
    assert set_response.status == 200
    with pytest.raises(Throttled) as caught:
        top_client.vas_subscribe_get(ARTICLE, SELLER)
    assert caught.value.ban_seconds == 90
    assert urllib3.request("DELETE", admin).status == 200
    assert top_client.vas_subscribe_get(ARTICLE, SELLER) == []
    urllib3.request("POST", admin, json={"api": "taobao.vas.subscribe.get", "error_rate": 1, "error_code": 11})
    with pytest.raises(PermissionDenied):
        top_client.vas_subscribe_get(ARTICLE, SELLER)
    assert urllib3.request("POST", admin, body=b"[1]").status == 400
    now = sandbox.clock()
    outage = [format_top_time(now), (now + timedelta(minutes=1)).isoformat()]
    urllib3.request("DELETE", admin)
    urllib3.request("POST", admin, json={"outage": outage})
    with pytest.raises(Transient):
        top_client.vas_subscribe_get(ARTICLE, SELLER)


def test_manual_ban_counts_down_by_clock(sandbox, top_client) -> None:  # noqa: F811
    sandbox.faults.ban(120)
    sandbox.clock_ctl.advance(45)
    with pytest.raises(Throttled) as caught:
        top_client.vas_subscribe_get(ARTICLE, SELLER)
    assert (caught.value.code, caught.value.ban_seconds) == (7, 75)
    assert sandbox.calls["taobao.vas.subscribe.get"] == 1
    sandbox.clock_ctl.advance(75)
    assert top_client.vas_subscribe_get(ARTICLE, SELLER) == []


def test_quota_overrun_bans_the_app() -> None:
    market = started_sandbox(quota_per_window=3, quota_window_seconds=60, ban_seconds=600)
    try:
        client = make_client(market)
        for _ in range(3):
            client.vas_subscribe_get(ARTICLE, SELLER)
        with pytest.raises(Throttled) as caught:
            client.vas_subscribe_get(ARTICLE, SELLER)
        assert caught.value.sub_code == errors.SUB_APP_ACCESS_LIMITED
        assert caught.value.ban_seconds == 600
        market.clock_ctl.advance(400)
        with pytest.raises(Throttled) as later:
            client.vas_subscribe_get(ARTICLE, SELLER)
        assert later.value.ban_seconds == 200
        market.clock_ctl.advance(200)
        for _ in range(3):
            client.vas_subscribe_get(ARTICLE, SELLER)
        market.clock_ctl.advance(60)
        assert client.vas_subscribe_get(ARTICLE, SELLER) == []
        assert client.stats.retries == 0
    finally:
        market.stop()


# -- OAuth -----------------------------------------------------------------------------------------


def _authorize(market: SandboxMarketplace, oauth: OAuthClient, nick: str, state: str = "s1") -> str:
    url = oauth.authorize_url(REDIRECT, state) + "&" + urlencode({"nick": nick})
    response = urllib3.request("GET", url, redirect=False)
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    query = dict(parse_qsl(location.query))
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert query["state"] == state
    return query["code"]


@pytest.fixture
def oauth(sandbox) -> OAuthClient:  # noqa: F811
    return OAuthClient(sandbox.oauth_base_url, APP_KEY, APP_SECRET, sandbox.clock)


def test_authorization_code_flow(sandbox, top_client, oauth) -> None:  # noqa: F811
    code = _authorize(sandbox, oauth, "小店-1号")
    grant = oauth.exchange_code(code, REDIRECT)
    assert grant.taobao_user_nick == "小店-1号"
    assert (grant.expires_in, grant.issued_at, grant.refreshable) == (86400, sandbox.clock(), True)
    assert grant.expires_at == sandbox.clock() + timedelta(days=1)
    assert grant.access_token not in repr(grant)
    assert list(top_client.traderates_get(grant.access_token)) == []
    with pytest.raises(OAuthError) as reused:
        oauth.exchange_code(code, REDIRECT)
    assert reused.value.error == "invalid_grant"


def test_code_is_bound_to_redirect_uri_and_client(sandbox, oauth) -> None:  # noqa: F811
    code = _authorize(sandbox, oauth, SELLER)
    with pytest.raises(OAuthError) as mismatch:
        oauth.exchange_code(code, "https://evil.example/cb")
    assert mismatch.value.error == "invalid_grant"
    impostor = OAuthClient(sandbox.oauth_base_url, APP_KEY, "not-the-secret", sandbox.clock)
    with pytest.raises(OAuthError) as client_error:
        impostor.exchange_code(_authorize(sandbox, oauth, SELLER), REDIRECT)
    assert client_error.value.error == "invalid_client"


def test_refresh_renews_an_expired_session(sandbox, top_client, oauth) -> None:  # noqa: F811
    grant = oauth.exchange_code(_authorize(sandbox, oauth, SELLER), REDIRECT)
    sandbox.clock_ctl.advance(grant.expires_in)
    with pytest.raises(SessionInvalid):
        list(top_client.traderates_get(grant.access_token))
    renewed = top_client.auth_token_refresh(grant.refresh_token)
    assert renewed.access_token != grant.access_token
    assert renewed.re_expires_in == grant.re_expires_in - grant.expires_in
    assert renewed.taobao_user_nick == SELLER and renewed.issued_at == sandbox.clock()
    assert list(top_client.traderates_get(renewed.access_token)) == []
    assert sandbox.calls["taobao.top.auth.token.refresh"] == 1


def test_a_refresh_spends_its_refresh_token(sandbox, top_client, oauth) -> None:  # noqa: F811
    grant = oauth.exchange_code(_authorize(sandbox, oauth, SELLER), REDIRECT)
    renewed = top_client.auth_token_refresh(grant.refresh_token)
    assert renewed.refresh_token != grant.refresh_token
    with pytest.raises(GrantRefused) as spent:
        top_client.auth_token_refresh(grant.refresh_token)
    assert spent.value.sub_code == errors.SUB_REFRESH_TOKEN_INVALID
    assert top_client.auth_token_refresh(renewed.refresh_token).taobao_user_nick == SELLER


def test_the_oauth_token_endpoint_does_not_refresh(sandbox, oauth) -> None:  # noqa: F811
    grant = oauth.exchange_code(_authorize(sandbox, oauth, SELLER), REDIRECT)
    form = {
        "client_id": APP_KEY,
        "client_secret": APP_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": grant.refresh_token,
    }
    response = urllib3.request(
        "POST",
        f"{sandbox.oauth_base_url}/token",
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (response.status, response.json()["error"]) == (400, "unsupported_grant_type")


def test_revoked_seller_cannot_refresh_until_authorizing_again(sandbox, top_client, oauth) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    sandbox.revoke(SELLER)
    with pytest.raises(GrantRefused):
        top_client.auth_token_refresh(account.refresh_token)
    grant = oauth.exchange_code(_authorize(sandbox, oauth, SELLER), REDIRECT)
    assert top_client.auth_token_refresh(grant.refresh_token).taobao_user_nick == SELLER


def test_refresh_token_expires_by_clock(sandbox, top_client) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    sandbox.clock_ctl.advance(30 * 86400)
    with pytest.raises(GrantRefused):
        top_client.auth_token_refresh(account.refresh_token)


def test_unrefreshable_grant(sandbox, oauth) -> None:  # noqa: F811
    sandbox.add_seller("short-shop", refreshable=False)
    grant = oauth.exchange_code(_authorize(sandbox, oauth, "short-shop"), REDIRECT)
    assert (grant.re_expires_in, grant.refreshable, grant.refresh_expires_at) == (0, False, None)


def test_ended_sessions_are_invalid(sandbox, top_client) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    sandbox.end_sessions(SELLER)
    with pytest.raises(SessionInvalid):
        list(top_client.traderates_get(account.access_token))


def test_oauth_server_unreachable_is_transient() -> None:
    market = started_sandbox()
    oauth = OAuthClient(market.oauth_base_url, APP_KEY, APP_SECRET, market.clock, connect_timeout=0.5)
    market.stop()
    with pytest.raises(Transient):
        oauth.exchange_code("whatever", REDIRECT)


def test_a_refresh_is_never_repeated_blindly() -> None:
    market = started_sandbox()
    client = make_client(market, connect_timeout=0.5)
    market.stop()
    with pytest.raises(Transient):
        client.auth_token_refresh("6202whatever")
    assert (client.stats.attempts, client.stats.retries) == (1, 0)


def test_authorize_rejects_unknown_client(sandbox) -> None:  # noqa: F811
    stranger = OAuthClient(sandbox.oauth_base_url, "other-app", APP_SECRET, sandbox.clock)
    response = urllib3.request("GET", stranger.authorize_url(REDIRECT, "s") + "&nick=x", redirect=False)
    assert (response.status, response.json()["error"]) == (400, "invalid_client")


# -- push publisher --------------------------------------------------------------------------------


class _Receiver:
    """A stand-in webhook that records what it receives and answers with a chosen status."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(parse_qsl(urlsplit(self.path).query)), body))
                answer = json.dumps({"ok": receiver.status == 200}).encode()
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def delivered_ids(self) -> list[str]:
        return [m.id for _, body in self.requests for m in parse_batch(body).messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    yield server
    server.close()


def _messages(clock: FakeClock, count: int) -> list[dict]:
    return [
        build_message(
            TOPIC_TRADE_SUCCESS,
            {"tid": n, "oid": n * 10, "buyer_nick": f"b{n}", "payment": "1.00"},
            msg_id=n,
            pub_time=clock(),
            user_id=1,
            user_nick=SELLER,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_publisher_signs_the_query_and_raw_body(receiver, sign_method) -> None:
    clock = FakeClock()
    publisher = Publisher(receiver.url, APP_KEY, APP_SECRET, clock, sign_method=sign_method)
    assert publisher.push(_messages(clock, 2)) == (200, {"ok": True})
    [(query, body)] = receiver.requests
    unsigned = {k: v for k, v in query.items() if k != "sign"}
    assert set(unsigned) == {"app_key", "timestamp", "sign_method"}
    assert unsigned["timestamp"] == format_top_time(clock()) and parse_top_time(unsigned["timestamp"]) == clock()
    assert signing.verify(unsigned, APP_SECRET, query["sign"], sign_method, body=body)
    assert not signing.verify(unsigned, APP_SECRET, query["sign"], sign_method, body=body + b" ")
    assert receiver.delivered_ids() == ["0", "1"]


def test_publisher_reports_an_unreachable_app() -> None:
    clock = FakeClock()
    gone = _Receiver()
    gone.close()
    assert Publisher(gone.url, APP_KEY, APP_SECRET, clock).push(_messages(clock, 1)) == (0, None)


def test_channel_delays_duplicates_and_drops(receiver) -> None:
    clock = FakeClock()
    publisher = Publisher(receiver.url, APP_KEY, APP_SECRET, clock)
    channel = PushChannel(
        publisher, random.Random(3), duplicate_rate=0.3, drop_rate=0.2, delay_max_seconds=60, reorder=True
    )
    channel.offer(_messages(clock, 40))
    assert channel.stats.offered == 40
    assert channel.dropped > 0 and channel.stats.duplicated > 0
    assert channel.flush(clock() - timedelta(seconds=1)) == []
    channel.flush(clock.advance(61))
    ids = receiver.delivered_ids()
    assert len(ids) == 40 - channel.dropped + channel.stats.duplicated
    assert len(set(ids)) == 40 - channel.dropped
    assert ids != sorted(ids, key=int)
    assert channel.pending == 0


def test_channel_redelivers_failed_batches(receiver) -> None:
    clock = FakeClock()
    channel = PushChannel(Publisher(receiver.url, APP_KEY, APP_SECRET, clock), random.Random(0), retry_seconds=30)
    channel.offer(_messages(clock, 3))
    receiver.status = 500
    assert channel.flush(clock()) == [(500, {"ok": False})]
    assert channel.pending == 3
    receiver.status = 200
    assert channel.flush(clock.advance(29)) == []
    assert channel.flush(clock.advance(1)) == [(200, {"ok": True})]
    assert receiver.delivered_ids() == ["0", "1", "2"] * 2
    assert (channel.stats.delivered, channel.stats.redelivered, channel.pending) == (3, 3, 0)


def test_channel_redelivers_messages_named_as_failed(receiver) -> None:
    clock = FakeClock()
    channel = PushChannel(
        Publisher(receiver.url, APP_KEY, APP_SECRET, clock),
        random.Random(0),
        retry_seconds=0,
        failed_ids=lambda answer: ["1"],
    )
    channel.offer(_messages(clock, 3))
    channel.flush(clock())
    assert channel.pending == 1
    assert channel.stats.delivered == 2


def test_clock_control_is_exposed_for_a_clock_or_its_now() -> None:
    clock = FakeClock()
    assert SandboxMarketplace(APP_KEY, APP_SECRET, clock).clock_ctl is clock
    assert SandboxMarketplace(APP_KEY, APP_SECRET, clock.now).clock_ctl is clock
    assert SandboxMarketplace(APP_KEY, APP_SECRET, lambda: clock.now()).clock_ctl is None

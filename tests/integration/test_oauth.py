"""Onboarding through the marketplace's OAuth flow: signed expiring state, once only, bound to the browser that
started it; the callback creates the seller with encrypted tokens and starts a seller session."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.handlers.http import NotAuthenticated, seller_of
from chalicelib.security.signed_tokens import issue, verify
from chalicelib.store import audit, sellers
from chalicelib.store.models import Seller
from sandbox.stack import rebind_app
from tests.helpers import APP_KEY, json_body, oauth_login, work_reconcile_queue

PUBLIC_URL = "https://haoping.test"
SESSION_SECRET = b"session-secret-for-tests"


@pytest.fixture
def app(market, client, monkeypatch):
    """The app behind a public https URL (the registered callback), talking to the sandbox marketplace."""
    monkeypatch.setenv("HAOPING_PUBLIC_URL", PUBLIC_URL)
    rebind_app()
    return client


class Flow:
    """One authorization in progress, split at each hop so a test can tamper with any of them."""

    def __init__(self, client, nick: str = "oauth_shop") -> None:
        self.client = client
        self.start = client.http.get("/oauth/start")
        self.nonce = self.start.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
        self.state = parse_qs(urlsplit(self.start.headers["Location"]).query)["state"][0]
        self.nick = nick

    def grant(self, state: str | None = None) -> str:
        """The seller approves on the marketplace; returns the authorization code (the state is echoed)."""
        location = self.start.headers["Location"]
        if state is not None:
            location = location.replace(urlencode({"state": self.state}), urlencode({"state": state}))
        answer = urllib3.request("GET", f"{location}&{urlencode({'nick': self.nick})}", redirect=False)
        return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]

    def callback(self, code: str, state: str | None = None, *, nonce: str | None = "same", accept="application/json"):
        headers = {"Accept": accept}
        cookie = self.nonce if nonce == "same" else nonce
        if cookie:
            headers["Cookie"] = f"other=1; hp_oauth={cookie}"
        query = urlencode({"code": code, "state": self.state if state is None else state})
        return self.client.http.get(f"/oauth/callback?{query}", headers=headers)


class _Request:
    def __init__(self, headers: dict) -> None:
        self.headers = headers


def _seller_rows() -> list[Seller]:
    return list(Seller.scan())


def test_start_redirects_to_the_marketplace_with_a_signed_expiring_state(app, market, clock):
    flow = Flow(app)
    assert flow.start.status_code == 302
    target = urlsplit(flow.start.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == market.oauth_base_url + "/authorize"
    query = parse_qs(target.query)
    assert query["client_id"] == [APP_KEY] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [PUBLIC_URL + "/oauth/callback"]
    claims = verify(SESSION_SECRET, flow.state, purpose="oauth_state", now=clock.now())
    assert claims.expires_at - clock.now() == timedelta(minutes=10)
    assert claims.nonce == flow.nonce
    cookie = flow.start.headers["Set-Cookie"]
    # https public URL: the cookies must also work inside the workbench's frame (third-party context).
    for attribute in ("HttpOnly", "SameSite=None", "Path=/oauth", "Secure", "Max-Age=600"):
        assert attribute in cookie
    assert flow.start.headers["Cache-Control"] == "no-store"


def test_two_starts_never_share_a_state(app):
    assert Flow(app).state != Flow(app).state


def test_callback_onboards_the_seller_with_encrypted_tokens_and_a_session(app, market, clock):
    flow = Flow(app)
    response = flow.callback(flow.grant())
    assert response.status_code == 200
    body = json_body(response)
    seller_id = body["seller_id"]
    assert seller_id == market.auth.user_id("oauth_shop")
    assert body["token_type"] == "Bearer"
    # The session token names this seller at every seller route, by header or by cookie.
    assert seller_of(_Request({"authorization": f"Bearer {body['session_token']}"})) == seller_id
    session_cookie = next(c for c in response.headers["Set-Cookie"] if c.startswith("hp_session="))
    assert session_cookie.startswith(f"hp_session={body['session_token']};")
    assert all(a in session_cookie for a in ("HttpOnly", "SameSite=None", "Path=/", "Secure"))
    assert any(c.startswith("hp_oauth=;") and "Max-Age=0" in c for c in response.headers["Set-Cookie"])
    assert response.headers["Cache-Control"] == "no-store"

    seller = sellers.get(seller_id)
    assert seller.nick == "oauth_shop" and seller.status == "active"
    from chalicelib.services.sellers.seller_tokens import access_token

    token = access_token(seller, now=clock.now())
    assert market.auth.session_nick(token) == "oauth_shop"  # a live session on the marketplace
    assert token not in json.dumps(seller.attribute_values, default=str)  # stored only encrypted
    # The callback wrote nothing to the marketplace: the permit of the seller's messages is queued, and opens them
    # (every topic the app subscribed) when the reconcile queue's worker runs it, audited.
    assert market.calls["taobao.tmc.user.permit"] == 0 and not seller.messages_permitted
    assert work_reconcile_queue(app) >= 1
    seller = sellers.get(seller_id)
    assert seller.messages_permitted is True and market.permitted("oauth_shop", "taobao_trade_TradeSuccess")
    assert sorted(r.action for r in audit.trail(seller_id)) == ["seller.onboard", "taobao.tmc.user.permit"]


def test_a_browser_lands_on_the_authorized_page_with_the_session_in_a_cookie_only(app):
    flow = Flow(app)
    response = flow.callback(flow.grant(), accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 302
    assert response.headers["Location"] == "/oauth/done"
    session_cookie = next(c for c in response.headers["Set-Cookie"] if c.startswith("hp_session="))
    token = session_cookie.split(";", 1)[0].split("=", 1)[1]
    assert seller_of(_Request({"cookie": f"hp_session={token}"}))
    assert token not in response.headers["Location"] and not response.body


@pytest.mark.parametrize(
    ("accept_language", "lang", "title"),
    [("zh-CN,zh;q=0.9", "zh-CN", "店铺已授权"), ("en-GB,en;q=0.8", "en", "Shop authorized")],
)
def test_the_authorized_page_says_it_is_done_and_leads_back_under_a_strict_policy(app, accept_language, lang, title):
    import base64
    import hashlib
    import re

    flow = Flow(app)
    landing = flow.callback(flow.grant(), accept="text/html").headers["Location"]
    response = app.http.get(landing, headers={"Accept": "text/html", "Accept-Language": accept_language})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    page = response.body.decode()
    assert f'<html lang="{lang}">' in page
    texts = json.loads(re.search(r'<script type="application/json" id="i18n-data">(.*?)</script>', page, re.S)[1])
    assert texts[lang]["page.authorized.title"] == title
    assert texts["zh-CN"]["page.authorized.back"] == "返回千牛工作台" and texts["en"]["page.authorized.back"]
    assert not [key for lang_texts in texts.values() for key in lang_texts if key.startswith(("error.", "csv."))]
    # Its one script runs by hash; it may frame nowhere but where the dashboard may, and sends nothing anywhere.
    policy = response.headers["Content-Security-Policy"]
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'self' https://qn.taobao.com" in policy
    assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["Cache-Control"] == "no-store"
    assert "oauth_shop" not in page  # it needs no session and names no shop


@pytest.mark.parametrize(
    ("query", "lang", "said"),
    [
        ("error=access_denied&state=s", "zh-CN", "您没有同意授权，应用无法为您自动评价。"),
        ("code=abc", "zh-CN", "平台没有带回授权结果，这次授权没有完成。请重新授权。"),
        ("code=abc&state=forged", "en", "This authorization link has expired or belongs to another browser;"),
    ],
)
def test_a_browser_reads_a_refused_authorization_as_a_page_with_a_way_to_try_again(app, query, lang, said):
    headers = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": lang}
    response = app.http.get(f"/oauth/callback?{query}", headers=headers)
    assert 400 <= response.status_code < 500 and response.headers["Content-Type"].startswith("text/html")
    page = response.body.decode()
    assert f'<html lang="{lang}">' in page and said in page and "\\u" not in page and '"error"' not in page
    assert '<a href="start" class=primary>' in page  # 重新授权: /oauth/start again, in the same window
    assert "script" not in response.headers["Content-Security-Policy"] and "<script" not in page


def test_the_session_expires_after_twelve_hours(app, clock):
    flow = Flow(app)
    token = json_body(flow.callback(flow.grant()))["session_token"]
    clock.advance(12 * 3600 - 1)
    assert seller_of(_Request({"authorization": f"Bearer {token}"}))
    clock.advance(1)
    with pytest.raises(NotAuthenticated):
        seller_of(_Request({"authorization": f"Bearer {token}"}))


def test_a_replayed_callback_is_refused(app):
    flow = Flow(app)
    code = flow.grant()
    assert flow.callback(code).status_code == 200
    again = flow.callback(code)
    assert again.status_code == 401
    assert json_body(again)["error"] == {
        "code": "state_rejected",
        "message": "授权链接已失效或不属于本浏览器，请重新发起授权。",
        "fields": {"state": "state was already used"},
    }
    # A captured state is worth nothing with a fresh code either.
    reused = flow.callback(flow.grant())
    assert reused.status_code == 401 and json_body(reused)["error"]["fields"] == {"state": "state was already used"}


def _forgeries(flow: Flow, clock) -> dict[str, tuple[str, str | None]]:
    body, signature = flow.state.split(".")
    other_secret = issue(
        b"not-our-secret", purpose="oauth_state", subject="authorize", now=clock.now(), ttl_seconds=600
    )
    session_as_state = issue(SESSION_SECRET, purpose="seller_session", subject="x", now=clock.now(), ttl_seconds=600)
    return {
        "tampered payload": (body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature, "same"),
        "tampered signature": (body + "." + signature[::-1], "same"),
        "another key": (other_secret, "same"),
        "another purpose": (session_as_state, "same"),
        "not a token": ("replay", "same"),
        "no browser cookie": (flow.state, None),
        "another browser": (flow.state, Flow(flow.client).nonce),
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "tampered payload",
        "tampered signature",
        "another key",
        "another purpose",
        "not a token",
        "no browser cookie",
        "another browser",
    ],
)
def test_a_forged_or_planted_state_is_refused_before_the_code_is_spent(app, clock, forgery):
    flow = Flow(app)
    code = flow.grant()
    state, nonce = _forgeries(flow, clock)[forgery]
    refused = flow.callback(code, state, nonce=nonce)
    assert refused.status_code == 401
    assert json_body(refused)["error"]["code"] == "state_rejected"
    assert _seller_rows() == []
    # The code was never exchanged: the genuine callback still works with it.
    assert flow.callback(code).status_code == 200


def test_an_expired_state_is_refused(app, clock):
    flow = Flow(app)
    code = flow.grant()
    clock.advance(10 * 60)
    refused = flow.callback(code)
    assert refused.status_code == 401
    assert json_body(refused)["error"]["fields"] == {"state": "state expired"}
    assert _seller_rows() == []


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AbZz09-_."))
def test_any_one_character_change_to_the_state_is_refused(app, position, replacement):
    flow = Flow(app)
    index = position % len(flow.state)
    forged = flow.state[:index] + replacement + flow.state[index + 1 :]
    if forged == flow.state:
        return
    response = flow.callback("any-code", forged)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("query", "code"),
    [("", "invalid_request"), ("code=abc", "invalid_request"), ("state=abc", "invalid_request")],
)
def test_a_callback_without_code_or_state_is_400(app, query, code):
    response = app.http.get(f"/oauth/callback?{query}" if query else "/oauth/callback")
    assert response.status_code == 400
    assert json_body(response)["error"]["code"] == code


def test_a_declined_authorization_is_400(app):
    flow = Flow(app)
    response = app.http.get(f"/oauth/callback?error=access_denied&state={flow.state}")
    assert response.status_code == 400
    assert json_body(response)["error"]["code"] == "authorization_denied"


def test_a_code_the_marketplace_refuses_is_400_and_spends_the_state(app):
    flow = Flow(app)
    refused = flow.callback("code-never-issued")
    assert refused.status_code == 400
    assert json_body(refused)["error"]["code"] == "authorization_failed"
    assert json_body(refused)["error"]["fields"]["code"] == "invalid_grant"
    assert flow.callback(flow.grant()).status_code == 401  # start again from /oauth/start


def test_an_unreachable_marketplace_is_a_4xx_that_says_when_and_where_to_start_again(app, monkeypatch):
    flow = Flow(app)
    code = flow.grant()
    monkeypatch.setenv("HAOPING_OAUTH_URL", "http://127.0.0.1:9/oauth")
    rebind_app()
    response = flow.callback(code)
    assert response.status_code == 424  # never a 5xx: the authorization depended on the marketplace
    error = json_body(response)["error"]
    assert error["code"] == "marketplace_unavailable" and error["fields"] == {"retry": "/oauth/start"}
    assert "平台" in error["message"]  # in the seller's language: Chinese unless asked
    assert int(response.headers["Retry-After"]) > 0 and response.headers["Cache-Control"] == "no-store"
    assert not _seller_rows()  # nothing partial


def test_authorizing_again_updates_the_same_seller(app, market, clock):
    first = json_body(oauth_login(app, "returning_shop"))
    clock.advance(3600)
    second = json_body(oauth_login(app, "returning_shop"))
    assert first["seller_id"] == second["seller_id"]
    assert first["session_token"] != second["session_token"]
    trail = [r.action for r in audit.trail(first["seller_id"])]
    assert [a for a in trail if a.startswith("seller.")] == ["seller.reauthorize", "seller.onboard"]
    assert trail.count("taobao.tmc.user.permit") == 0  # queued: the callbacks wrote nothing to the marketplace
    work_reconcile_queue(app)
    trail = [r.action for r in audit.trail(first["seller_id"])]
    assert trail.count("taobao.tmc.user.permit") == 2  # every authorization opens the messages again
    assert len(_seller_rows()) == 1

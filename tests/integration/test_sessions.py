"""Sessions: a one-time login link becomes the HttpOnly session cookie once and is dead after; a seller logs out
and an operator revokes a seller's sessions (every device, at once here); the dashboard may be framed only by the
configured origins (the 千牛 workbench's)."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.ops import main
from chalicelib.services.sessions import seller_sessions
from chalicelib.store import audit, seller_writes
from sandbox.run import dashboard_url
from sandbox.stack import rebind_app
from tests.helpers import json_body, make_seller

PAGE = "/api/settings"
HOUR = timedelta(hours=1)


@pytest.fixture
def seller(aws, clock) -> str:
    return make_seller(clock.now())


def login(client, code: str):
    return client.http.get(f"/login?code={code}", headers={"Accept": "text/html"})


def session_cookie(response) -> str:
    [cookie] = [c for c in _set_cookies(response) if c.startswith("hp_session=")]
    return cookie


def _set_cookies(response) -> list[str]:
    value = response.headers.get("Set-Cookie") or response.headers.get("set-cookie")
    return value if isinstance(value, list) else [part.strip() for part in (value or "").split(",") if part.strip()]


def as_browser(cookie: str) -> dict:
    return {"Cookie": cookie.split(";", 1)[0]}


def test_a_login_link_starts_a_session_in_an_httponly_cookie_once(client, clock, seller):
    code = seller_sessions.login_link_code(seller, now=clock.now(), ttl=timedelta(days=1))
    first = login(client, code)
    assert first.status_code == 302 and first.headers["Location"] == "/"
    cookie = session_cookie(first)
    assert "HttpOnly" in cookie and "Max-Age=43200" in cookie
    assert client.http.get(PAGE, headers=as_browser(cookie)).status_code == 200

    again = login(client, code)  # a copied link, the history, a log line: worth nothing now
    assert again.status_code == 401 and 'data-code="login_link_rejected"' in again.body.decode()
    assert "登录链接已使用或已过期，请从千牛工作台重新打开本应用。" in again.body.decode()  # a page, not JSON escapes
    assert again.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "hp_session=" not in str(again.headers)
    program = client.http.get(f"/login?code={code}", headers={"Accept": "application/json"})
    assert json_body(program)["error"]["code"] == "login_link_rejected"  # a program still reads the JSON shape


def test_a_forged_or_missing_login_code_is_refused(client, clock, seller):
    for code in ["", "garbage", "a.b", "x" * 5000]:
        answer = login(client, code)
        assert answer.status_code in (400, 401)
        assert "hp_session=" not in str(answer.headers)
        assert not code or code[:20] not in answer.body.decode()
    english = client.http.get("/login", headers={"Accept": "text/html", "Accept-Language": "en"}).body.decode()
    assert "This login link is incomplete" in english and "check the fields" not in english


def test_a_link_for_another_shop_asks_before_it_replaces_a_signed_in_session(client, clock, seller):
    other = make_seller(clock.now(), user_id="2200000002", nick="other_shop")
    signed_in = session_cookie(login(client, seller_sessions.login_link_code(seller, now=clock.now(), ttl=HOUR)))
    code = seller_sessions.login_link_code(other, now=clock.now(), ttl=HOUR)

    asked = client.http.get(f"/login?code={code}", headers={"Accept": "text/html", **as_browser(signed_in)})
    page = asked.body.decode()
    assert asked.status_code == 200 and "hp_session=" not in str(asked.headers)
    assert "test_shop" in page and "other_shop" in page and 'data-code="switch_shop"' in page
    # Forged or foreign confirmations switch nothing; the code is still unused.
    for proof in ("", "0" * 32, seller_sessions.switch_proof("another-session", code)):
        again = client.http.get(
            f"/login?code={code}&switch={proof}", headers={"Accept": "text/html", **as_browser(signed_in)}
        )
        assert again.status_code == 200 and "hp_session=" not in str(again.headers)
    mine = client.http.get(PAGE, headers=as_browser(signed_in))
    assert mine.status_code == 200 and json_body(mine)["settings"]  # still signed in to the first shop

    [switch] = [href for href in _links(page) if "switch=" in href]
    switched = client.http.get(
        "/" + switch.replace("&amp;", "&"), headers={"Accept": "text/html", **as_browser(signed_in)}
    )
    assert switched.status_code == 302
    assert seller_sessions.seller_of(session_cookie(switched).split(";")[0].split("=", 1)[1], now=clock.now()) == other


def test_a_link_for_the_same_shop_or_after_an_ended_session_just_signs_in(client, clock, seller):
    signed_in = session_cookie(login(client, seller_sessions.login_link_code(seller, now=clock.now(), ttl=HOUR)))
    again = seller_sessions.login_link_code(seller, now=clock.now(), ttl=HOUR)
    assert client.http.get(f"/login?code={again}", headers=as_browser(signed_in)).status_code == 302
    other = make_seller(clock.now(), user_id="2200000002", nick="other_shop")
    seller_sessions.end_all(seller, now=clock.now(), actor="seller")
    clock.advance(1)
    code = seller_sessions.login_link_code(other, now=clock.now(), ttl=HOUR)
    assert client.http.get(f"/login?code={code}", headers=as_browser(signed_in)).status_code == 302


def test_the_session_cookie_is_partitioned_for_the_workbench_frame(client, clock, seller, monkeypatch):
    monkeypatch.setenv("HAOPING_PUBLIC_URL", "https://haoping.example")
    rebind_app()
    cookie = session_cookie(login(client, seller_sessions.login_link_code(seller, now=clock.now(), ttl=HOUR)))
    assert all(flag in cookie for flag in ("HttpOnly", "SameSite=None", "Secure", "Partitioned"))


def _links(page: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', page)


def test_an_expired_login_link_is_refused(client, clock, seller):
    code = seller_sessions.login_link_code(seller, now=clock.now(), ttl=timedelta(minutes=5))
    clock.advance(301)
    assert login(client, code).status_code == 401


def test_the_local_commands_print_a_login_link_not_a_session(client, clock, seller):
    stack = SimpleNamespace(clock=clock, endpoints=SimpleNamespace(app="http://127.0.0.1:1"))
    url = urlsplit(dashboard_url(stack, seller))
    assert url.path == "/login" and set(parse_qs(url.query)) == {"code"}
    code = parse_qs(url.query)["code"][0]
    with pytest.raises(seller_sessions.SessionRejected, match="wrong purpose"):
        seller_sessions.seller_of(code, now=clock.now())  # the code is no session
    assert login(client, code).status_code == 302


def test_logging_out_ends_the_session_everywhere_and_drops_the_cookie(client, clock, seller):
    one = seller_sessions.start(seller, now=clock.now()).token
    other = seller_sessions.start(seller, now=clock.now()).token  # another device
    bye = client.http.post("/api/logout", headers={"Authorization": f"Bearer {one}"}, body=b"")
    assert bye.status_code == 200 and json_body(bye) == {"logged_out": True}
    assert "Max-Age=0" in session_cookie(bye)
    for token in (one, other):
        refused = client.http.get(PAGE, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401 and json_body(refused)["error"]["code"] == "unauthenticated"
    assert client.http.post("/api/logout", headers={"Authorization": f"Bearer {one}"}, body=b"").status_code == 401
    [record] = [r for r in audit.trail(seller) if r.action == "sessions.revoke"]
    assert record.actor == "seller"

    clock.advance(1)  # a new login after it works
    fresh = seller_sessions.start(seller, now=clock.now()).token
    assert client.http.get(PAGE, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_an_operator_revokes_a_sellers_sessions_and_outstanding_login_links(client, clock, seller, capsys):
    token = seller_sessions.start(seller, now=clock.now()).token
    code = seller_sessions.login_link_code(seller, now=clock.now(), ttl=timedelta(days=1))
    assert main(["--user", "ops_amy", "revoke-sessions", seller]) == 0
    assert f"sessions of {seller} ended" in capsys.readouterr().out
    assert client.http.get(PAGE, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(client, code).status_code == 401
    [record] = [r for r in audit.trail(seller) if r.action == "sessions.revoke"]
    assert record.actor == "operator:ops_amy"
    assert main(["revoke-sessions", "2299999999"]) == 1  # no such seller


def test_a_session_of_a_purged_seller_is_refused(client, clock, seller):
    token = seller_sessions.start(seller, now=clock.now()).token
    seller_writes.erase(seller, now=clock.now())
    assert client.http.get(PAGE, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_only_the_configured_origins_may_frame_the_dashboard(client, monkeypatch):
    policy = client.http.get("/").headers["Content-Security-Policy"]
    ancestors = next(part.strip() for part in policy.split(";") if part.strip().startswith("frame-ancestors"))
    assert ancestors.split()[1:] == [
        "'self'",
        "https://qn.taobao.com",
        "https://myseller.taobao.com",
        "https://work.taobao.com",
        "https://qianniu.taobao.com",
    ]
    monkeypatch.setenv("HAOPING_FRAME_ANCESTORS", "'self' https://qn.taobao.com")
    rebind_app()
    policy = client.http.get("/").headers["Content-Security-Policy"]
    assert policy.endswith("frame-ancestors 'self' https://qn.taobao.com")

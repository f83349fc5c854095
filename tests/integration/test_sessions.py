"""Sessions: a one-time login link becomes the HttpOnly session cookie once and is dead after; a seller logs out
and an operator revokes a seller's sessions (every device, at once here); the dashboard may be framed only by the
configured origins (the 千牛 workbench's)."""

from __future__ import annotations

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
    assert again.status_code == 401 and json_body(again)["error"]["code"] == "login_link_rejected"
    assert "hp_session=" not in str(again.headers)


def test_a_forged_or_missing_login_code_is_refused(client, clock, seller):
    for code in ["", "garbage", "a.b", "x" * 5000]:
        answer = login(client, code)
        assert answer.status_code in (400, 401)
        assert "hp_session=" not in str(answer.headers)
        assert not code or code[:20] not in answer.body.decode()


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

"""Fuzzing the HTTP surface as an attacker would: whatever arrives — bodies, headers, query strings, huge or
deeply nested JSON, bad encodings, valid and invalid signatures and sessions, any method on any path — every answer
is a 2xx, a 3xx, or a 4xx in the one error shape (``{"error": {"code", "message", "fields"?}}``), never a 5xx; a
4xx, or a push whose every message was rejected, writes nothing; and no raw input (a canary planted in every field)
reaches a log line or an error message.

Every route of the app is fuzzed (``app.routes``), so a route added later is covered without touching this
file; a route whose handler is still a placeholder (``NotImplementedError``) is skipped and says so. The catch-all
routes that answer unknown paths are fuzzed with paths of every depth.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import app
from chalicelib.container import container
from chalicelib.marketplace import topics
from chalicelib.marketplace.signing import sign
from chalicelib.security.signed_tokens import issue
from chalicelib.store.models import MODELS
from sandbox.run import app_output_to
from tests.helpers import APP_KEY, APP_SECRET, market_ts

ALL_ROUTES = sorted((path, method) for path, entries in app.routes.items() for method in entries)
# The catch-all routes (``/{p0}``, ``/{p0}/{p1}``, …) answer any path the app does not have.
NO_ROUTE = {(path, method) for path, method in ALL_ROUTES if path.startswith("/{p0}")}
ROUTES = [route for route in ALL_ROUTES if route not in NO_ROUTE]
PUSH_ROUTES = {"/webhooks/marketplace", "/webhooks/billing"}
# Planted in every kind of field: it must never come back in an error or reach a log line.
CANARY = "小明爱购物_88"
# Append-only records of what happened (a refused request may be recorded there); everything else must not move.
RECORD_TABLES = {"Audit", "Rejected"}
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=gbk",
    "text/plain",
    "application/x-www-form-urlencoded",
    "text/xml",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
]
TOPICS = [
    topics.TRADE_SUCCESS,
    topics.TRADE_RATED,
    topics.REFUND_CREATED,
    topics.REFUND_SUCCESS,
    topics.ORDER_PAID,
    topics.ORDER_CLOSED,
]
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
ASCII_CANARY = "canary-bearer-8c1f"  # headers are ASCII: the bearer token's canary
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz-"

canary_text = st.text(max_size=30) | st.just(CANARY)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | canary_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def messages(draw, seller_id: str) -> dict:
    """A message that is almost right: real topics and the real seller, fields fuzzed."""
    content = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "tid": st.one_of(st.from_regex(r"\A\d{1,20}\Z"), canary_text, st.integers()),
                "oid": st.one_of(st.from_regex(r"\A\d{1,20}\Z"), canary_text),
                "buyer_nick": st.text(max_size=80) | st.just(CANARY),
                "buyer_open_uid": st.text(max_size=140),
                "result": st.sampled_from(["good", "neutral", "bad", "", "x"]),
                "rater": st.sampled_from(["buyer", "seller", "unknown"]),
                "refund_id": st.text(max_size=20),
                "item_title": st.text(max_size=200),
                "end_time": st.one_of(
                    canary_text,
                    st.just("2026-11-11 10:00:00"),
                    st.just("9999-12-31 23:59:59"),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(),
                ),
                "order_id": st.integers(),
                "nick": st.text(max_size=40),
                "biz_type": st.integers(-2, 9),
            },
        )
    )
    topic = draw(st.sampled_from(TOPICS) | st.text(max_size=30))
    return {
        "id": draw(st.one_of(st.text(min_size=1, max_size=20), st.integers())),
        "topic": topic,
        "pub_time": draw(
            st.one_of(
                st.just("2026-11-11 10:00:00"),
                canary_text,
                st.integers(),
                st.floats(allow_nan=True, allow_infinity=True),
                st.just("99999999999999999999"),
            )
        ),
        "user_id": draw(st.one_of(st.just(seller_id), st.text(max_size=12), st.none())),
        "user_nick": draw(st.one_of(st.just("test_shop"), st.text(max_size=20))),
        "content": draw(st.one_of(json_values.map(json.dumps), st.just(json.dumps(content)), st.just(content))),
    }


def bodies(seller_id: str):
    return st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.lists(messages(seller_id), max_size=4).map(lambda m: json.dumps({"messages": m}).encode()),
        st.tuples(st.integers(1, 100_000), st.sampled_from(["list", "dict"])).map(lambda a: _nested(*a)),
        st.tuples(st.integers(1, 3000), st.sampled_from(["list", "dict"])).map(
            lambda a: b'{"messages": ' + _nested(*a) + b"}"
        ),
        st.integers(1_048_000, 1_049_100).map(lambda n: b'{"messages": ["' + b"x" * n + b'"]}'),
        st.text(max_size=50).map(lambda t: json.dumps({"messages": t}).encode("utf-16")),
        st.text(max_size=50).map(lambda t: t.encode("gb18030", errors="replace")),
        st.just(b'{"messages": [{"id": "1", "topic": "\xff\xfe"}]}'),
    )


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict
    body: bytes


@st.composite
def requests(draw, path: str, method: str, seller_id: str, session: str) -> Request:
    concrete = path
    for name in ("{tid}",):
        value = draw(st.one_of(st.from_regex(r"\A39\d{14}\Z"), st.text(min_size=1, max_size=30)))
        concrete = concrete.replace(name, quote(value, safe=""))
    body = draw(bodies(seller_id)) if method != "GET" else draw(st.one_of(st.just(b""), st.binary(max_size=50)))
    query = draw(st.dictionaries(st.text(TOKEN_CHARS, min_size=1, max_size=10), canary_text, max_size=4))
    if path in PUSH_ROUTES and draw(st.booleans()):  # signed correctly, so the body is parsed
        query = {"app_key": APP_KEY, "timestamp": market_ts(_now()), "sign_method": "md5"}
        query["sign"] = sign(query, APP_SECRET, "md5", body=body)
    headers = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES) | st.text(PRINTABLE, max_size=40))}
    method = draw(st.sampled_from([method, method, method, "PATCH", "DELETE", "PUT"]))  # also methods it lacks
    extra = st.dictionaries(st.text(TOKEN_CHARS, min_size=1, max_size=12), st.text(PRINTABLE, max_size=40), max_size=3)
    headers.update(draw(extra))
    auth = draw(st.sampled_from(["session", "cookie", "garbage", "none"]))
    if auth == "session":
        headers["Authorization"] = f"Bearer {session}"
    elif auth == "cookie":
        headers["Cookie"] = f"hp_session={session}"
    elif auth == "garbage":
        headers["Authorization"] = "Bearer " + draw(st.text(PRINTABLE, max_size=60) | st.just(ASCII_CANARY))
    if query:
        concrete += "?" + urlencode(query)
    return Request(method, concrete, headers, body)


def _now():
    from chalicelib.config import clock

    return clock.now()


def snapshot() -> dict[str, list[str]]:
    """Every item of every table that a refused request must leave alone."""
    ddb = container().aws("dynamodb")
    out = {}
    for model in MODELS:
        name = model.Meta.logical_name
        if name not in RECORD_TABLES:
            items = ddb.scan(TableName=container().settings.table(name)).get("Items", [])
            out[name] = sorted(json.dumps(item, sort_keys=True) for item in items)
    return out


def error_of(response) -> dict:
    """The error of a 4xx, which must be in the one shape: ``{"error": {"code", "message", "fields"?}}``."""
    body = json.loads(response.body)
    assert isinstance(body, dict) and set(body) == {"error"}, response.body[:300]
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "fields"}, error
    assert error["code"] and error["message"], error
    return error


@pytest.fixture
def session(clock, shop) -> str:
    secret = container().session_secret()
    return issue(secret, purpose="seller_session", subject=shop, now=clock.now(), ttl_seconds=3600)


def placeholder(client, path: str, method: str) -> bool:
    """True while the route's handler is still ``raise NotImplementedError``."""
    # Chalice's debug switch also sets the level of the logger named after the app, which is the app's own
    # (powertools) logger: it is put back, or every later test would log errors only.
    previous, level = app.debug, app.log.level
    app.debug = True
    try:
        response = client.http.request(method, path.replace("{tid}", "1"), headers={}, body=b"")
    finally:
        app.debug = previous
        app.log.setLevel(level)
    return response.status_code == 500 and b"NotImplementedError" in (response.body or b"")


def check(client, method: str, path: str, headers: dict, body: bytes) -> None:
    """Send one request and hold it to the rules: no 5xx; a 4xx in the one error shape, quoting nothing it was sent
    and leaving every table as it was (so does a push whose every message was rejected); no log line quotes it."""
    before = snapshot()
    logs = io.StringIO()
    with app_output_to(logs):
        response = client.http.request(method, path, headers=headers, body=body)
    status = response.status_code
    assert status < 500, (status, body[:60], response.body[:500])
    written = logs.getvalue()
    assert CANARY not in written and ASCII_CANARY not in written, f"{method} {path}: the input reached a log line"
    if 400 <= status < 500:
        error_of(response)
        answer = (response.body or b"").decode("utf-8", "replace") + json.dumps(dict(response.headers))
        assert CANARY not in answer and ASCII_CANARY not in answer, (status, response.body[:300])
        assert snapshot() == before, f"{body[:60]!r}: {status} left a partial write"
    if status == 200 and path.split("?")[0] in PUSH_ROUTES and method == "POST":
        results = json.loads(response.body)["results"]
        assert len(results) == len(json.loads(body)["messages"])
        assert all(CANARY not in json.dumps(r, ensure_ascii=False) for r in results)
        if results and all(r["status"] in ("rejected", "ignored") for r in results):
            assert snapshot() == before, f"{body[:60]!r}: rejected messages left a partial write"


def send_nasty_bodies(client, now, session: str, path: str, method: str) -> None:
    """The inputs known to break parsers, each sent signed (push routes) and with a valid session."""
    for body in NASTY_BODIES:
        query = ""
        if path in PUSH_ROUTES:
            params = {"app_key": APP_KEY, "timestamp": market_ts(now), "sign_method": "md5"}
            params["sign"] = sign(params, APP_SECRET, "md5", body=body)
            query = "?" + urlencode(params)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {session}"}
        check(client, method, path.replace("{tid}", "3900000000000001") + query, headers, body)


@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_every_answer_is_a_success_or_a_refusal_with_a_reason_and_refusals_write_nothing(
    client, clock, market, shop, session, path, method
):
    if placeholder(client, path, method):
        pytest.skip(f"{method} {path} is still a placeholder")
    examples = 30 if path in PUSH_ROUTES else 8

    send_nasty_bodies(client, clock.now(), session, path, method)

    @settings(max_examples=examples, suppress_health_check=list(HealthCheck))
    @given(requests(path, method, shop, session))
    def fuzz(request: Request) -> None:
        check(client, request.method, request.path, request.headers, request.body)

    fuzz()


def _deep_content(depth: int) -> bytes:
    """A message whose ``content`` object nests ``depth`` levels (just inside or past the decoder's limit)."""
    content = b'{"a":' * depth + b'{"tid":"1"}' + b"}" * depth
    head = b'{"messages": [{"id": "1", "topic": "taobao_trade_TradeSuccess", "pub_time": "2026-11-11 10:00:00", '
    return head + b'"user_id": "1", "content": ' + content + b"}]}"


NASTY_BODIES = [
    b"",
    b"null",
    b"[]",
    b'{"messages": null}',
    b'{"messages": [null, 1, "x"]}',
    _nested(5_000, "list"),
    _nested(100_000, "dict"),
    b'{"messages": ' + _nested(5_000, "list") + b"}",
    _deep_content(900),
    _deep_content(990),
    json.dumps(
        {
            "messages": [
                {
                    "id": "1",
                    "topic": topics.TRADE_SUCCESS,
                    "pub_time": "2026-11-11 10:00:00",
                    "content": "[" * 5000 + "]" * 5000,
                }
            ]
        }
    ).encode(),
    b'{"messages": ["' + b"x" * 1_048_600 + b'"]}',
    json.dumps({"messages": []}).encode("utf-16"),
    b'{"messages": [{"id": "\xff\xfe", "topic": "\\ud800"}]}',
    '{"messages": "淘宝"}'.encode("gb18030"),
    b"\xef\xbb\xbf{}",
]


def test_every_route_of_the_app_is_fuzzed():
    # The parametrization comes from the app itself: a route added later is fuzzed without editing this file.
    assert set(ROUTES) | NO_ROUTE == {(p, m) for p, e in app.routes.items() for m in e}
    assert {"/webhooks/marketplace", "/webhooks/billing", "/api/logout", "/login"} <= {p for p, _ in ROUTES}
    assert NO_ROUTE, "the catch-all routes are fuzzed by test_any_path_the_app_lacks_is_a_404_in_the_error_shape"


@pytest.mark.parametrize("depth", [1, 2, 4, 15])
def test_any_path_the_app_lacks_is_a_404_in_the_error_shape(client, clock, market, shop, session, depth):
    segment = st.text(TOKEN_CHARS + "ABZ019._~", min_size=1, max_size=12).filter(lambda t: t not in (".", ".."))

    @settings(max_examples=6, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(segment, min_size=depth, max_size=depth),
        st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
        st.sampled_from([f"Bearer {session}", f"Bearer {ASCII_CANARY}", None]),
    )
    def fuzz(segments, method, auth):
        path = "/zz/" + "/".join(segments)  # never one of the app's own paths
        headers = {"Authorization": auth} if auth else {}
        response = client.http.request(method, path, headers=headers, body=b"")
        assert response.status_code == 404, (method, path, response.body[:200])
        if method != "HEAD":
            assert error_of(response)["code"] == "not_found"
        check(client, method, path, headers, b"")

    fuzz()

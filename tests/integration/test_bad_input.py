"""Inputs that can never succeed: answered with a 4xx or a per-message ``rejected`` (never ``error``, which the
marketplace would redeliver forever), nothing of them written, and nothing of them quoted in a reply or a log.

Each test sends all its cases to one app (a fresh one per case would spend the suite's time on set-up)."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import timedelta

import pytest

from chalicelib.domain.market_time import MARKET_TZ
from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import build_message
from chalicelib.store.models import Task
from sandbox.run import app_output_to
from tests.helpers import json_body, make_seller, push, signed_path, topic_message, trade_message
from tests.integration.test_seller_api import session

CANARY = "小明爱购物_88"


@contextlib.contextmanager
def captured_logs():
    """Everything the app writes (JSON logs and metrics) while the block runs."""
    out = io.StringIO()
    with app_output_to(out):
        yield out


def _tasks(seller_id: str) -> list[Task]:
    return list(Task.query(seller_id))


def _raw_push(client, body: bytes, now, path: str = "/webhooks/marketplace"):
    return client.http.post(signed_path(path, body, now), headers={"Content-Type": "application/json"}, body=body)


@pytest.mark.parametrize("path", ["/webhooks/marketplace", "/webhooks/billing"])
def test_a_pub_time_no_clock_can_hold_rejects_that_message_and_the_rest_goes_on(client, clock, shop, path):
    good = trade_message(shop, "3900000000000900", clock.now(), msg_id="m-good")
    for n, pub_time in enumerate(["1e400", '"99999999999999999999"', "-1", '"9999-12-31 23:59:59"', "1e10"]):
        broken = json.dumps(trade_message(shop, f"39000000000009{n:02d}", clock.now(), msg_id="m-bad")).replace(
            json.dumps(good["pub_time"]), pub_time
        )
        body = b'{"messages": [' + json.dumps(good).encode() + b", " + broken.encode() + b"]}"
        response = _raw_push(client, body, clock.now(), path)
        assert response.status_code == 200, (pub_time, response.body)
        results = {r["id"]: r for r in json_body(response)["results"]}
        assert results["m-bad"]["status"] == "rejected" and results["m-bad"]["detail"].startswith("pub_time")
        assert json_body(response)["retry"] == []
    assert [t.tid for t in _tasks(shop)] == (["3900000000000900"] if path == "/webhooks/marketplace" else [])


def test_a_trade_with_an_impossible_end_time_is_rejected_not_retried_and_never_quoted(client, clock, shop):
    later = (clock.now() + timedelta(days=3)).astimezone(MARKET_TZ).strftime("%Y-%m-%d %H:%M:%S")
    cases = [CANARY, "9999-12-31 23:59:59", "0001-01-01 00:00:00", "2026-13-01 00:00:00", 1e300, -5, True, later]
    for n, end_time in enumerate(cases):
        message = trade_message(shop, f"39000000000009{n:02d}", clock.now(), end_time=end_time)
        with captured_logs() as logs:
            response = push(client, [message], clock.now())
        body = json_body(response)
        assert response.status_code == 200
        assert body["results"][0]["status"] == "rejected" and body["retry"] == [], end_time
        assert "end_time" in body["results"][0]["detail"]
        assert CANARY not in response.body.decode() and CANARY not in logs.getvalue()
        assert "message rejected" in logs.getvalue()  # the capture holds the app's records
    assert _tasks(shop) == []


def test_a_message_for_a_seller_who_never_authorized_is_rejected_and_writes_nothing(client, clock, shop):
    stranger = "2299999999"
    cases = [
        (topics.REFUND_CREATED, {"refund_id": "r1"}),
        (topics.REFUND_CLOSED, {"refund_id": "r1"}),
        (topics.REFUND_SUCCESS, {"refund_id": "r1"}),
        (topics.TRADE_RATED, {"result": "bad", "rater": "buyer"}),
        (topics.TRADE_SUCCESS, {}),
    ]
    for n, (topic, extra) in enumerate(cases):
        message = topic_message(topic, stranger, "3900000000000904", clock.now(), msg_id=f"x{n}", **extra)
        body = json_body(push(client, [message], clock.now()))
        assert body["results"][0] == {
            "id": f"x{n}",
            "status": "rejected",
            "detail": "seller has not authorized the app",
        }
        assert body["retry"] == []
    assert _tasks(stranger) == []


def test_a_rating_of_a_trade_never_seen_is_retried_until_its_window_is_over_then_rejected(client, clock, shop):
    rated = topic_message(topics.TRADE_RATED, shop, "3900000000000905", clock.now(), msg_id="r1", result="bad")
    assert json_body(push(client, [rated], clock.now()))["retry"] == ["r1"]
    clock.advance(timedelta(days=16).total_seconds())
    stale = build_message(
        topics.TRADE_RATED,
        {"tid": "3900000000000905", "result": "bad", "rater": "buyer"},
        msg_id="r1",
        pub_time=clock.now() - timedelta(days=16),
        user_id=shop,
        user_nick="test_shop",
    )
    body = json_body(push(client, [stale], clock.now()))
    assert body["results"][0]["status"] == "rejected" and body["retry"] == []
    assert _tasks(shop) == []


def test_message_ids_and_topics_are_printable_ascii_of_bounded_length(client, clock, shop):
    for ident in ["\u00e9\u00e9", "x" * 129, "a b"]:
        message = {**trade_message(shop, "3900000000000906", clock.now()), "id": ident}
        response = push(client, [message], clock.now())
        assert response.status_code == 400  # no id to answer it by: the batch is refused
    assert _tasks(shop) == []


# -- the seller API ------------------------------------------------------------------------------------------------
@pytest.fixture
def auth(aws, clock) -> dict:
    return session(make_seller(clock.now()), clock.now())


def test_a_day_outside_the_apps_years_is_a_400_not_a_500(client, auth):
    for query in [
        "to=9999-12-31",
        "from=0001-01-01",
        "to=0",
        "from=1999-12-31",
        "to=2026-02-30",
        "to=2026-11-11T00:00",
    ]:
        response = client.http.get(f"/api/tasks?{query}", headers=auth)
        assert response.status_code == 400, (query, response.body)
        assert json_body(response)["error"]["code"] == "invalid_request"


def test_preview_takes_only_a_day_written_as_a_day(client, auth):
    for trade_date in ["0", 0, "9999-12-31", "2026-11-11T10:00:00", 1.5]:
        body = json.dumps({"sample": {"trade_date": trade_date}}).encode()
        response = client.http.post("/api/settings/preview", headers=auth, body=body)
        assert response.status_code == 400, (trade_date, response.body)
        assert "sample.trade_date" in json_body(response)["error"]["fields"]


def test_a_cursor_with_a_number_dynamodb_would_refuse_is_a_400(client, auth):
    # [1e40, "x"], [-1, "x"], [10**40, "x"] as cursors
    for cursor in ["WzFlKzQwLCJ4Il0", "Wy0xLCJ4Il0", "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwLCJ4Il0"]:
        response = client.http.get(f"/api/tasks?cursor={cursor}", headers=auth)
        assert response.status_code == 400, (cursor, response.body)


def test_a_60000_character_template_is_refused_by_field_and_saves_nothing(client, auth):
    before = json_body(client.http.get("/api/settings", headers=auth))["version"]
    for field in ("templates", "explain_templates"):
        body = json.dumps({field: ["a" * 60_000]}).encode()
        response = client.http.put("/api/settings", headers=auth, body=body)
        assert response.status_code == 400
        assert f"{field}.0" in json_body(response)["error"]["fields"]
    assert json_body(client.http.get("/api/settings", headers=auth))["version"] == before


@pytest.mark.parametrize("path", ["/webhooks/marketplace", "/webhooks/billing"])
def test_a_push_beyond_its_work_limit_defers_the_rest_for_the_sender_to_send_again(
    client, clock, shop, path, monkeypatch
):
    from chalicelib.handlers import webhooks

    monkeypatch.setattr(webhooks, "MAX_MESSAGES_PER_PUSH", 2)
    messages = [trade_message(shop, f"390000000000095{n}", clock.now(), msg_id=f"m{n}") for n in range(5)]
    body = json_body(push(client, messages, clock.now(), path=path))
    results = {r["id"]: r for r in body["results"]}
    assert [results[f"m{n}"]["status"] == "error" for n in range(5)] == [False, False, True, True, True]
    assert body["retry"] == ["m2", "m3", "m4"] and results["m4"]["detail"].startswith("deferred")
    if path == "/webhooks/marketplace":
        assert sorted(t.tid for t in _tasks(shop)) == ["3900000000000950", "3900000000000951"]  # nothing of m2..m4

    monkeypatch.setattr(webhooks, "PUSH_BUDGET_SECONDS", 0.0)  # a push whose time ran out handles nothing more
    body = json_body(push(client, messages[2:], clock.now(), path=path))
    assert body["retry"] == ["m2", "m3", "m4"]

"""Inputs that can never succeed: answered with a 4xx or a per-message ``rejected`` (never ``error``, which the
marketplace would redeliver forever), nothing of them written, and nothing of them quoted in a reply or a log."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import timedelta

import pytest

from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import build_message
from chalicelib.store.models import Task
from sandbox.run import app_output_to
from tests.helpers import json_body, push, signed_path, topic_message, trade_message

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
@pytest.mark.parametrize("pub_time", ["1e400", '"99999999999999999999"', "-1", '"9999-12-31 23:59:59"', "1e10"])
def test_a_pub_time_no_clock_can_hold_is_a_malformed_batch(client, clock, shop, path, pub_time):
    message = json.dumps(trade_message(shop, "3900000000000901", clock.now())).replace(
        json.dumps(trade_message(shop, "3900000000000901", clock.now())["pub_time"]), pub_time
    )
    body = b'{"messages": [' + message.encode() + b"]}"
    response = _raw_push(client, body, clock.now(), path)
    assert response.status_code == 400, response.body
    assert json_body(response)["error"]["code"] == "malformed_batch"
    assert _tasks(shop) == []


@pytest.mark.parametrize(
    "end_time", [CANARY, "9999-12-31 23:59:59", "0001-01-01 00:00:00", "2026-13-01 00:00:00", 1e300, -5, True]
)
def test_a_trade_with_an_impossible_end_time_is_rejected_not_retried_and_never_quoted(client, clock, shop, end_time):
    message = trade_message(shop, "3900000000000902", clock.now(), end_time=end_time)
    with captured_logs() as logs:
        response = push(client, [message], clock.now())
    body = json_body(response)
    assert response.status_code == 200
    assert body["results"][0]["status"] == "rejected" and body["retry"] == []
    assert "end_time" in body["results"][0]["detail"]
    assert _tasks(shop) == []
    assert CANARY not in response.body.decode() and CANARY not in logs.getvalue()
    assert "message rejected" in logs.getvalue()  # the capture holds the app's records


def test_a_trade_that_ends_in_the_future_is_rejected(client, clock, shop):
    later = (clock.now() + timedelta(days=3)).astimezone(topics_tz()).strftime("%Y-%m-%d %H:%M:%S")
    body = json_body(push(client, [trade_message(shop, "3900000000000903", clock.now(), end_time=later)], clock.now()))
    assert body["results"][0]["status"] == "rejected" and body["retry"] == []
    assert _tasks(shop) == []


def topics_tz():
    from chalicelib.domain.market_time import MARKET_TZ

    return MARKET_TZ


@pytest.mark.parametrize(
    ("topic", "extra"),
    [
        (topics.REFUND_CREATED, {"refund_id": "r1"}),
        (topics.REFUND_CLOSED, {"refund_id": "r1"}),
        (topics.REFUND_SUCCESS, {"refund_id": "r1"}),
        (topics.TRADE_RATED, {"result": "bad", "rater": "buyer"}),
        (topics.TRADE_SUCCESS, {}),
    ],
)
def test_a_message_for_a_seller_who_never_authorized_is_rejected_and_writes_nothing(client, clock, shop, topic, extra):
    stranger = "2299999999"
    message = topic_message(topic, stranger, "3900000000000904", clock.now(), msg_id="x1", **extra)
    body = json_body(push(client, [message], clock.now()))
    assert body["results"][0] == {"id": "x1", "status": "rejected", "detail": "seller has not authorized the app"}
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


@pytest.mark.parametrize("ident", ["\u00e9\u00e9", "x" * 129, "a b"])
def test_message_ids_and_topics_are_printable_ascii_of_bounded_length(client, clock, shop, ident):
    message = {**trade_message(shop, "3900000000000906", clock.now()), "id": ident}
    response = push(client, [message], clock.now())
    assert response.status_code == 400
    assert _tasks(shop) == []


# -- the seller API ------------------------------------------------------------------------------------------------
@pytest.fixture
def auth(aws, clock) -> dict:
    from tests.helpers import make_seller
    from tests.integration.test_seller_api import session

    return session(make_seller(clock.now()), clock.now())


@pytest.mark.parametrize(
    "query", ["to=9999-12-31", "from=0001-01-01", "to=0", "from=1999-12-31", "to=2026-02-30", "to=2026-11-11T00:00"]
)
def test_a_day_outside_the_apps_years_is_a_400_not_a_500(client, auth, query):
    response = client.http.get(f"/api/tasks?{query}", headers=auth)
    assert response.status_code == 400, response.body
    assert json_body(response)["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("trade_date", ["0", 0, "9999-12-31", "2026-11-11T10:00:00", 1.5])
def test_preview_takes_only_a_day_written_as_a_day(client, auth, trade_date):
    body = json.dumps({"sample": {"trade_date": trade_date}}).encode()
    response = client.http.post("/api/settings/preview", headers=auth, body=body)
    assert response.status_code == 400, response.body
    assert "sample.trade_date" in json_body(response)["error"]["fields"]


@pytest.mark.parametrize(
    "cursor", ["WzFlKzQwLCJ4Il0", "Wy0xLCJ4Il0", "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwLCJ4Il0"]
)
def test_a_cursor_with_a_number_dynamodb_would_refuse_is_a_400(client, auth, cursor):
    response = client.http.get(f"/api/tasks?cursor={cursor}", headers=auth)
    assert response.status_code == 400, response.body


@pytest.mark.parametrize("field", ["templates", "explain_templates"])
def test_a_60000_character_template_is_refused_by_field_and_saves_nothing(client, auth, field):
    before = json_body(client.http.get("/api/settings", headers=auth))["version"]
    body = json.dumps({field: ["a" * 60_000]}).encode()
    response = client.http.put("/api/settings", headers=auth, body=body)
    assert response.status_code == 400
    assert f"{field}.0" in json_body(response)["error"]["fields"]
    assert json_body(client.http.get("/api/settings", headers=auth))["version"] == before

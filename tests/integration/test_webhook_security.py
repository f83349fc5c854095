"""Inbound pushes through the HTTP route: the body size limit, the 5-minute timestamp tolerance, a signature that
covers the body, and a replayed accepted batch that changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.marketplace.messages import encode_batch
from chalicelib.store.models import Task
from sandbox.lambda_driver import scheduled_event, sqs_event
from tests.helpers import add_market_trade, json_body, signed_path, trade_message

HEADERS = {"Content-Type": "application/json"}
MAX_BODY = 1_048_576


def _post(client, path: str, body: bytes):
    return client.http.post(path, headers=HEADERS, body=body)


def _tasks(seller_id: str) -> list[Task]:
    return list(Task.query(seller_id))


def test_a_body_over_the_limit_is_413_and_never_parsed(client, aws, clock, shop):
    message = trade_message(shop, "3900000000000501", clock.now(), item_title="x")
    body = encode_batch([message])
    padded = body[:-2] + b" " * (MAX_BODY - len(body) + 1) + body[-2:]  # valid JSON, one byte too many
    assert len(padded) == MAX_BODY + 1 and json.loads(padded)
    response = _post(client, signed_path("/webhooks/marketplace", padded, clock.now()), padded)
    assert response.status_code == 413
    assert json_body(response)["error"]["code"] == "push_rejected"
    assert _tasks(shop) == []


@pytest.mark.parametrize("skew_seconds", [-301, 301, -3600])
def test_a_timestamp_more_than_five_minutes_off_is_401(client, aws, clock, shop, skew_seconds):
    body = encode_batch([trade_message(shop, "3900000000000502", clock.now())])
    path = signed_path("/webhooks/marketplace", body, clock.now() + timedelta(seconds=skew_seconds))
    response = _post(client, path, body)
    assert response.status_code == 401
    assert json_body(response)["error"]["message"] == "timestamp outside 300s tolerance"
    assert _tasks(shop) == []


def test_a_timestamp_within_five_minutes_is_accepted(client, aws, clock, shop):
    body = encode_batch([trade_message(shop, "3900000000000503", clock.now())])
    response = _post(client, signed_path("/webhooks/marketplace", body, clock.now() - timedelta(seconds=299)), body)
    assert response.status_code == 200
    assert len(_tasks(shop)) == 1


def test_the_signature_covers_the_body(client, aws, clock, shop):
    signed_for = encode_batch([trade_message(shop, "3900000000000504", clock.now())])
    swapped = encode_batch([trade_message(shop, "3900000000000505", clock.now())])
    response = _post(client, signed_path("/webhooks/marketplace", signed_for, clock.now()), swapped)
    assert response.status_code == 401
    assert json_body(response)["error"]["message"] == "signature mismatch"
    assert _tasks(shop) == []


def test_a_replayed_accepted_batch_is_harmless(client, aws, clock, market, shop):
    tid = "3900000000000506"
    add_market_trade(market, clock, tid)
    body = encode_batch([trade_message(shop, tid, clock.now())])
    path = signed_path("/webhooks/marketplace", body, clock.now())
    first = _post(client, path, body)
    assert [r["status"] for r in json_body(first)["results"]] == ["ok"]

    clock.advance(60)
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10)["Messages"]
    client.lambda_.invoke("worker", sqs_event(got, aws["queue_url"]))
    before = _tasks(shop)[0].attribute_values

    # The same signed request, captured and sent again inside the tolerance: accepted, and changes nothing.
    again = _post(client, path, body)
    assert again.status_code == 200
    assert json_body(again) == {"results": [{"id": f"m{tid}", "status": "duplicate"}], "retry": []}
    assert [t.attribute_values for t in _tasks(shop)] == [before]
    assert market.post_counts(int(tid)) == 1
    # Sent again later, it is refused outright.
    clock.advance(300)
    assert _post(client, path, body).status_code == 401

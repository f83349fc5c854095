"""The first complete path: a signed TradeSuccess push ends as one posted review."""

from __future__ import annotations

import json

from chalicelib.store import tasks
from sandbox.lambda_driver import scheduled_event, sqs_event
from tests.helpers import add_market_trade, json_body, push, signed_path, trade_message


def run_sweep_and_worker(client, aws, clock) -> list[dict]:
    """Invoke the sweep with an EventBridge event, then the worker with the SQS batch it queued."""
    swept = client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    assert swept.payload["paused"] is None
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    if got:
        client.lambda_.invoke("worker", sqs_event(got, aws["queue_url"]))
    return got


def seed_trade(client, clock, market, shop, tid="3900000000000001", **kw):
    """The trade exists on the marketplace, and its TradeSuccess message is pushed to the app."""
    add_market_trade(market, clock, tid)
    return push(client, [trade_message(shop, tid, clock.now(), **kw)], clock.now())


def test_trade_success_is_posted_exactly_once(client, aws, clock, market, shop):
    response = seed_trade(client, clock, market, shop)
    assert response.status_code == 200
    assert json_body(response)["results"][0]["status"] == "ok"
    task = tasks.get(shop, "3900000000000001")
    assert task.state == "scheduled"
    assert task.buyer_masked == "t***7" and "tb_buyer_77" not in json.dumps(task.attribute_values, default=str)

    # Immediate mode: the push queued the job at once; the worker posts it without waiting for a sweep.
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"]) for m in got] == [{"seller_id": shop, "tid": "3900000000000001"}]
    client.lambda_.invoke("worker", sqs_event(got, aws["queue_url"]))
    task = tasks.get(shop, "3900000000000001")
    assert task.state == "posted"
    assert task.response["posted_at"] == int(clock.now().timestamp())
    assert market.post_counts(3900000000000001) == 1
    given = market.rates_given("test_shop")
    assert given[0]["result"] == "good" and given[0]["content"] == task.content

    # A duplicate push and another sweep change nothing and post nothing.
    again = push(client, [trade_message(shop, "3900000000000001", clock.now())], clock.now())
    assert json_body(again)["results"][0]["status"] == "duplicate"
    clock.advance(60)
    assert run_sweep_and_worker(client, aws, clock) == []
    assert market.post_counts(3900000000000001) == 1


def test_unsigned_or_forged_push_is_401_and_creates_nothing(client, aws, clock, shop):
    from chalicelib.marketplace.messages import encode_batch

    body = encode_batch([trade_message(shop, "3900000000000002", clock.now())])
    unsigned = client.http.post("/webhooks/marketplace", headers={"Content-Type": "application/json"}, body=body)
    assert unsigned.status_code == 401
    assert json_body(unsigned)["error"]["message"]
    forged = client.http.post(
        signed_path("/webhooks/marketplace", body, clock.now(), secret="not-the-secret"),
        headers={"Content-Type": "application/json"},
        body=body,
    )
    assert forged.status_code == 401
    assert tasks.get(shop, "3900000000000002") is None


def test_malformed_body_is_400_and_creates_nothing(client, aws, clock, shop):
    body = b'{"messages": [{"id": 1, "topic": "x"'
    response = client.http.post(
        signed_path("/webhooks/marketplace", body, clock.now()), headers={"Content-Type": "application/json"}, body=body
    )
    assert response.status_code == 400
    assert json_body(response)["error"]["code"] == "malformed_batch"


def test_invalid_message_is_rejected_but_valid_neighbour_is_kept(client, aws, clock, market, shop):
    good = trade_message(shop, "3900000000000003", clock.now())
    bad = trade_message(shop, "not-a-tid", clock.now(), msg_id="bad1")
    response = push(client, [bad, good], clock.now())
    results = {r["id"]: r["status"] for r in json_body(response)["results"]}
    assert results == {"bad1": "rejected", "m3900000000000003": "ok"}
    assert tasks.get(shop, "3900000000000003").state == "scheduled"


def test_unknown_topic_is_acknowledged(client, aws, clock, shop):
    from chalicelib.marketplace.messages import build_message

    msg = build_message(
        "taobao_item_ItemAdd", {"num_iid": 1}, msg_id="u1", pub_time=clock.now(), user_id=shop, user_nick="x"
    )
    response = push(client, [msg], clock.now())
    assert json_body(response)["results"] == [
        {"id": "u1", "status": "ignored", "detail": "topic taobao_item_ItemAdd is not used"}
    ]

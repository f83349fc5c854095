"""Duplicates change nothing: natural keys absorb repeated messages, alerts run once through powertools
idempotency however often the cause comes, and the explanation reply — a marketplace write, so a task of its
own — is queued once and sent once, even when the worker crashes after sending it."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib.marketplace import topics
from chalicelib.services.jobs.reconcile_seller import reconcile_seller
from chalicelib.services.rules import rules_in_force
from chalicelib.store import audit, outbox, tasks
from sandbox.chaos import DynamoFaults, mentions
from sandbox.lambda_driver import scheduled_event
from tests.helpers import add_market_trade, json_body, push, set_seller, topic_message, trade_message, work_review_queue

TID = "3900000000000701"
EXPLAIN = "taobao.traderate.explain.add"


@pytest.fixture
def alerts_published(aws):
    """Every message published to the alerts topic, collected through an SQS subscription."""
    sqs = aws["sqs"]
    url = sqs.create_queue(QueueName="alerts-copy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name="ap-southeast-1").subscribe(TopicArn=aws["topic"], Protocol="sqs", Endpoint=arn)

    def collected() -> list[dict]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got]

    return collected


@pytest.fixture
def rated_badly(client, clock, market, shop):
    """A pending review whose buyer then rated the trade ``bad``; returns the rating message."""
    set_seller(
        shop,
        clock.now(),
        settings={"mode": "delay", "auto_explain": True, "explain_templates": ["抱歉给您带来不便，我们会改进。"]},
    )
    add_market_trade(market, clock, TID)
    push(client, [trade_message(shop, TID, clock.now())], clock.now())
    clock.advance(3600)
    # A kind of complaint measured precise enough to be answered automatically (see docs/triage.md).
    market.add_buyer_rate(int(TID), "bad", "毛衣起球了，质量一般")
    return topic_message(topics.TRADE_RATED, shop, TID, clock.now(), msg_id="rate-1", rater="buyer", result="bad")


def rating_alerts(seller_id: str) -> int:
    return sum(1 for n in outbox.recent(seller_id) if n.kind == "buyer_rating_bad")


def test_a_redelivered_bad_rating_alerts_once_and_explains_once(
    client, clock, market, shop, rated_badly, alerts_published
):
    answers = [json_body(push(client, [rated_badly], clock.now()))["results"][0]["status"] for _ in range(3)]
    republished = {**rated_badly, "id": "rate-1-again"}  # the platform may publish the event again, new id
    answers.append(json_body(push(client, [republished], clock.now()))["results"][0]["status"])
    reconcile_seller(shop, now=clock.now())  # and reconciliation sees the same rating on the marketplace

    work_review_queue(client)
    assert answers == ["ok", "duplicate", "duplicate", "duplicate"]
    assert rating_alerts(shop) == 1
    assert [a["kind"] for a in alerts_published()] == ["buyer_rating_bad"]
    assert market.calls[EXPLAIN] == 1
    assert sum(1 for r in audit.trail(shop) if r.action == EXPLAIN) == 1
    task = tasks.get(shop, TID)
    assert (task.state, task.reason, task.buyer_rating) == ("skipped", "buyer_bad_rating", "bad")


def test_a_reply_whose_record_failed_after_it_was_sent_is_sent_once(
    client, clock, market, shop, rated_badly, alerts_published
):
    assert json_body(push(client, [rated_badly], clock.now()))["retry"] == []
    # The reply is accepted, then its audit record fails: the worker's job fails, the task stays claimed.
    with DynamoFaults(match=mentions(EXPLAIN, operation="PutItem"), times=1) as faults:
        work_review_queue(client)
    assert sum(faults.injected.values()) == 1
    assert tasks.get(shop, tasks.explanation_tid(TID)).state == "claimed"

    # Once the claim lapses the sweep queues it again; the marketplace says it is there, and it is recorded.
    clock.advance(rules_in_force().claim_timeout_seconds + 60)
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    work_review_queue(client)
    done = tasks.get(shop, tasks.explanation_tid(TID))
    assert (done.state, done.reason) == ("posted", "already_rated")
    assert rating_alerts(shop) == 1
    assert len(alerts_published()) == 1
    replies = [
        r
        for r in market.state.rates_for(
            "test_shop", rate_type="get", role="buyer", result=None, start=None, end=None, tid=int(TID)
        )
    ]
    assert [r["reply"] for r in replies] == ["抱歉给您带来不便，我们会改进。"]


def test_duplicate_trade_messages_cost_a_failed_conditional_write_and_change_nothing(client, clock, market, shop):
    message = trade_message(shop, TID, clock.now())
    first = json_body(push(client, [message], clock.now()))
    created = tasks.get(shop, TID)

    repeats = json_body(push(client, [message, message, {**message, "id": "other-id"}], clock.now()))

    assert first["results"][0]["status"] == "ok"
    assert [r["status"] for r in repeats["results"]] == ["duplicate"] * 3
    again = tasks.get(shop, TID)
    assert (again.rev, again.updated_at, again.content) == (created.rev, created.updated_at, created.content)

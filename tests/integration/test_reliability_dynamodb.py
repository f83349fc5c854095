"""DynamoDB throttling and transient errors: each entry point fails exactly the unit of work that hit them.

``DynamoFaults`` raises ``ProvisionedThroughputExceededException``, ``ThrottlingException`` or a connection
error from below PynamoDB (a burst that outlasted the SDK's own retries), on the calls a filter picks.
"""

from __future__ import annotations

import json

import pytest
from pynamodb.exceptions import QueryError

from chalicelib.handlers import sweep, worker
from chalicelib.marketplace import topics
from chalicelib.services.reviews import review_queue
from chalicelib.store import tasks
from sandbox.chaos import ALL_KINDS, DynamoFaults, mentions
from sandbox.lambda_driver import deliver_batch, lambda_context, scheduled_event
from tests.helpers import add_market_trade, json_body, lose_queued_jobs, push, topic_message, trade_message

TIDS = ("3900000000000610", "3900000000000620", "3900000000000630")  # oid = tid + 1: no overlaps


@pytest.fixture
def trades(market, clock):
    for tid in TIDS:
        add_market_trade(market, clock, tid)
    return TIDS


@pytest.fixture
def due(client, aws, clock, shop, trades):
    """The three trades pushed and due (the jobs queued at once are dropped: each test queues its own)."""
    push(client, [trade_message(shop, tid, clock.now()) for tid in trades], clock.now())
    lose_queued_jobs(aws)
    clock.advance(60)
    return shop


def deliver(aws):
    return deliver_batch(aws["sqs"], aws["queue_url"], lambda event: worker.handle(event, lambda_context()))


def jobs(aws, seller_id: str, tids) -> None:
    for tid in tids:
        aws["sqs"].send_message(QueueUrl=aws["queue_url"], MessageBody=json.dumps({"seller_id": seller_id, "tid": tid}))


def states(seller_id: str) -> list[str]:
    return [tasks.get(seller_id, tid).state for tid in TIDS]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_the_webhook_answers_only_the_throttled_message_as_error_and_its_retry_loses_nothing(
    client, clock, shop, trades, kind
):
    messages = [trade_message(shop, tid, clock.now()) for tid in trades]

    with DynamoFaults(match=mentions(TIDS[1], operation="PutItem"), kinds=(kind,)) as faults:
        answer = json_body(push(client, messages, clock.now()))

    assert faults.injected == {kind: 1}
    assert [r["status"] for r in answer["results"]] == ["ok", "error", "ok"]
    assert answer["retry"] == [messages[1]["id"]]
    assert tasks.get(shop, TIDS[1]) is None
    again = json_body(push(client, [messages[1]], clock.now()))
    assert again["results"][0]["status"] == "ok"
    assert states(shop) == ["scheduled"] * 3


def test_a_refund_whose_hold_was_throttled_is_held_when_the_message_comes_again(client, clock, shop, trades):
    push(client, [trade_message(shop, TIDS[0], clock.now())], clock.now())
    refund = topic_message(topics.REFUND_CREATED, shop, TIDS[0], clock.now(), msg_id="r1", refund_id="R1")
    with DynamoFaults(match=mentions('"S": "held"', operation="UpdateItem")):
        first = json_body(push(client, [refund], clock.now()))
    again = json_body(push(client, [refund], clock.now()))

    assert first["retry"] == ["r1"]
    assert tasks.get(shop, TIDS[0]).refunds == {"R1": "created"}  # recorded before the hold failed
    assert again["results"][0]["status"] == "duplicate"
    task = tasks.get(shop, TIDS[0])
    assert (task.state, task.reason) == ("held", "refund")


def test_a_throttled_claim_fails_only_its_record_and_the_retry_posts_it(aws, market, due):
    jobs(aws, due, TIDS)
    with DynamoFaults(match=mentions(TIDS[1], '"S": "claimed"', operation="UpdateItem")) as faults:
        first = deliver(aws)

    assert sum(faults.injected.values()) == 1
    assert len(first.kept) == 1 and len(first.deleted) == 2
    assert states(due) == ["posted", "scheduled", "posted"]
    deliver(aws)
    assert states(due) == ["posted"] * 3
    assert [market.post_counts(int(t)) for t in TIDS] == [1, 1, 1]


def test_a_failure_after_the_claim_leaves_no_task_stuck_claimed(client, aws, clock, market, due):
    jobs(aws, due, TIDS[:1])

    # The first Stats write of the job (the hourly post reservation) fails after the claim was taken.
    with DynamoFaults(match=mentions("-Stats", operation="UpdateItem"), times=1):
        failed = deliver(aws)
    assert failed.kept == failed.received
    task = tasks.get(due, TIDS[0])
    assert task.state == "claimed" and task.claimed_until > clock.now().timestamp()

    clock.advance(301)  # the claim expires
    assert sweep.handle(scheduled_event(clock.now()), lambda_context())["queued"] >= 1
    while deliver(aws).received:
        pass

    assert tasks.get(due, TIDS[0]).state == "posted"
    assert market.post_counts(int(TIDS[0])) == 1


def test_a_throttled_record_of_an_accepted_post_is_settled_on_redelivery_without_posting_again(aws, clock, market, due):
    jobs(aws, due, TIDS[:1])

    # The write that records the post (the task's update to posted) is throttled.
    record = mentions("-Tasks", '"S": "posted"', operation="UpdateItem")
    with DynamoFaults(match=record, kinds=("ThrottlingException",)):
        deliver(aws)
    assert tasks.get(due, TIDS[0]).state == "claimed"

    clock.advance(301)
    deliver(aws)

    task = tasks.get(due, TIDS[0])
    assert (task.state, task.reason) == ("posted", "already_rated")
    assert market.post_counts(int(TIDS[0])) == 1


def test_a_throttled_sweep_raises_so_the_tick_is_retried_and_the_next_one_queues_everything(aws, clock, due):
    for tid in TIDS:  # their jobs were lost: they wait in the due index
        assert review_queue.rescue(tasks.get(due, tid))
    with DynamoFaults(match=mentions(operation="Query")), pytest.raises(QueryError):
        sweep.handle(scheduled_event(clock.now()), lambda_context())

    assert sweep.handle(scheduled_event(clock.now()), lambda_context())["queued"] == 3

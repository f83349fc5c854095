"""The worker dies after the marketplace accepted a review but before the task says so: nothing posts twice.

The crash is injected where the task would be marked posted (``CrashAfterPost``); the record fails, the
task keeps its claim and joins the due index at the claim's end, and every later path — SQS redelivery, the
sweep after the claim expires — meets the marketplace's "already rated" answer and settles the task as posted
without a second review.
"""

from __future__ import annotations

import pytest

from chalicelib.store import tasks
from sandbox.chaos import CrashAfterPost
from sandbox.lambda_driver import deliver_batch, scheduled_event
from tests.helpers import add_market_trade, push, trade_message

TID = "3900000000000401"


@pytest.fixture
def due_task(client, aws, clock, market, shop):
    add_market_trade(market, clock, TID)
    push(client, [trade_message(shop, TID, clock.now())], clock.now())  # its job is queued at once
    clock.advance(60)
    return shop


def deliver(client, aws):
    return deliver_batch(aws["sqs"], aws["queue_url"], lambda e: client.lambda_.invoke("worker", e).payload)


def sweep(client, clock) -> dict:
    return client.lambda_.invoke("sweep", scheduled_event(clock.now())).payload


def test_redelivery_after_the_claim_expires_settles_the_task_without_posting_again(
    client, aws, clock, market, due_task
):
    with CrashAfterPost() as crash:
        crashed = deliver(client, aws)
    assert crash.crashed == [(due_task, TID)]
    assert crashed.kept == crashed.received  # the record failed: SQS will deliver it again
    task = tasks.get(due_task, TID)
    # The claim holds for a while; the task joined the due index at the claim's end, so once the claim lapses
    # the sweep finds it, whatever becomes of the job.
    assert task.state == "claimed" and task.claimed_until > clock.now().timestamp()
    assert task.due_shard is not None and task.due_at == task.claimed_until

    early = deliver(client, aws)  # redelivered while the claim holds: the job is not due, nothing is called
    assert early.deleted == early.received
    assert market.calls["taobao.traderate.add"] == 1
    assert sweep(client, clock)["queued"] == 0

    clock.advance(301)  # the claim expires; the sweep finds the task again through its due time
    assert sweep(client, clock)["queued"] == 1
    deliver(client, aws)

    task = tasks.get(due_task, TID)
    assert (task.state, task.reason) == ("posted", "already_rated")
    assert market.post_counts(int(TID)) == 1
    assert len(market.rates_given("test_shop")) == 1


def test_sqs_redelivery_of_the_crashed_record_after_the_claim_expired_also_settles_it(
    client, aws, clock, market, due_task
):
    with CrashAfterPost():
        deliver(client, aws)
    clock.advance(301)

    deliver(client, aws)  # the same record, delivered again by SQS

    assert tasks.get(due_task, TID).state == "posted"
    assert market.post_counts(int(TID)) == 1
    assert sweep(client, clock)["queued"] == 0  # nothing left claimed or due

"""The review queue under failure: a failing record is retried alone, a poison one ends in the dead-letter
queue after its tries, and the operator's redrive moves dead letters back safely.

Deliveries go through ``deliver_batch``, a model of Lambda's SQS event source mapping: it deletes
what Lambda deletes, and receives with a zero visibility timeout so a record left for redelivery comes
back at the next poll.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from chalicelib.container import container
from chalicelib.handlers import worker
from chalicelib.services.operations.redrive import redrive
from chalicelib.store import tasks
from sandbox.lambda_driver import deliver_batch, lambda_context
from tests.helpers import add_market_trade, lose_queued_jobs, push, trade_message

TIDS = ("3900000000000301", "3900000000000302")
POISON = "{not json"


@pytest.fixture
def due_trades(client, aws, clock, market, shop):
    """Two finished trades with due review tasks; returns their job bodies."""
    for tid in TIDS:
        add_market_trade(market, clock, tid)
    push(client, [trade_message(shop, tid, clock.now()) for tid in TIDS], clock.now())
    lose_queued_jobs(aws)  # each test sends its own jobs
    clock.advance(60)
    return [json.dumps({"seller_id": shop, "tid": tid}) for tid in TIDS]


@pytest.fixture
def processed(monkeypatch):
    """Counts every job the worker runs, by tid."""
    runs: Counter[str] = Counter()
    real = worker.process_job

    def spy(seller_id, tid, *, now):
        runs[tid] += 1
        return real(seller_id, tid, now=now)

    monkeypatch.setattr(worker, "process_job", spy)
    return runs


def send(aws, bodies: list[str], queue: str = "queue_url") -> None:
    for body in bodies:
        aws["sqs"].send_message(QueueUrl=aws[queue], MessageBody=body)


def drain(aws, invoke, **options) -> int:
    """Poll until nothing is received; returns how many polls received something."""
    polls = 0
    while deliver_batch(aws["sqs"], aws["queue_url"], invoke, **options).received:
        polls += 1
    return polls


def queued(aws, queue: str) -> list[str]:
    got = aws["sqs"].receive_message(QueueUrl=aws[queue], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in got.get("Messages", [])]


def max_receives(aws) -> int:
    """The review queue's maxReceiveCount, as the template's redrive policy sets it."""
    attributes = aws["sqs"].get_queue_attributes(QueueUrl=aws["queue_url"], AttributeNames=["RedrivePolicy"])
    return int(json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"])


def naive_handler(event, context):
    """The shape the worker must NOT have: any failed record fails the whole invocation."""
    for record in event["Records"]:
        job = json.loads(record["body"])
        worker.process_job(job["seller_id"], job["tid"], now=container().clock.now())


def test_one_failing_record_does_not_redo_its_batch_and_ends_in_the_dead_letter_queue(
    aws, market, due_trades, processed
):
    send(aws, [due_trades[0], POISON, due_trades[1]])

    polls = drain(aws, lambda event: worker.handle(event, lambda_context()))

    assert processed == {TIDS[0]: 1, TIDS[1]: 1}
    assert [market.post_counts(int(tid)) for tid in TIDS] == [1, 1]
    assert polls == max_receives(aws) > 1  # the poison job's tries; its neighbours only in the first
    assert queued(aws, "dlq_url") == [POISON]
    assert queued(aws, "queue_url") == []


def test_a_handler_that_fails_the_whole_batch_would_redo_the_good_records(aws, market, due_trades, processed):
    # The counterfactual that the partial response prevents: the delivery model is faithful to Lambda.
    send(aws, [due_trades[0], POISON, due_trades[1]])

    drain(aws, lambda event: naive_handler(event, lambda_context()))

    assert processed[TIDS[0]] == max_receives(aws)
    assert set(queued(aws, "dlq_url")) == {POISON, *due_trades}


def test_without_report_batch_item_failures_on_the_mapping_a_failed_record_is_lost(aws, due_trades, processed):
    # Chalice's default event source: the response is ignored, so the failed record is deleted with the
    # batch. This is why the packaged template must set FunctionResponseTypes (docs/reliability.md).
    send(aws, [due_trades[0], POISON])

    drain(aws, lambda event: worker.handle(event, lambda_context()), report_batch_item_failures=False)

    assert queued(aws, "dlq_url") == []
    assert processed == {TIDS[0]: 1}


def test_redrive_moves_dead_letters_back_and_the_worker_then_posts_them_once(aws, clock, market, due_trades):
    send(aws, due_trades, queue="dlq_url")

    first = redrive(aws["dlq_url"], aws["queue_url"], max_messages=1)
    rest = redrive(aws["dlq_url"], aws["queue_url"], max_messages=10)
    nothing = redrive(aws["dlq_url"], aws["queue_url"], max_messages=10)

    assert (first, rest, nothing) == (1, 1, 0)
    drain(aws, lambda event: worker.handle(event, lambda_context()))
    assert [tasks.get(json.loads(b)["seller_id"], json.loads(b)["tid"]).state for b in due_trades] == ["posted"] * 2
    assert [market.post_counts(int(tid)) for tid in TIDS] == [1, 1]


def test_redrive_to_a_queue_that_refuses_leaves_the_message_dead_lettered(aws):
    send(aws, ["{}"], queue="dlq_url")
    missing = aws["queue_url"].rsplit("/", 1)[0] + "/no-such-queue"

    with pytest.raises(ClientError):
        redrive(aws["dlq_url"], missing, max_messages=5)

    attributes = aws["sqs"].get_queue_attributes(QueueUrl=aws["dlq_url"], AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1
    )


def test_redrive_refuses_a_meaningless_limit(aws):
    with pytest.raises(ValueError):
        redrive(aws["dlq_url"], aws["queue_url"], max_messages=0)

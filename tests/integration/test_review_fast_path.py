"""The review's fast path: a review due now is queued when its push is handled (one request per push), a retry due
within SQS's delay limit is queued delayed, a worker batch's records run concurrently with exact partial failures,
and a review reads its seller once per batch and no blacklist its seller does not keep."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager

import pytest
from botocore import handlers

from bench.counting import DynamoCounter
from chalicelib.container import container
from chalicelib.handlers import worker
from chalicelib.store import sellers, tasks
from sandbox.chaos import CrashAfterPost
from sandbox.lambda_driver import lambda_context, sqs_event
from sandbox.stack import rebind_app
from tests.helpers import add_market_trade, json_body, push, trade_message
from tests.integration.test_seller_api import session

TIDS = [f"39000000000007{i:02d}" for i in range(10)]


@contextmanager
def sqs_calls(operation: str):
    """Every ``operation`` call the app makes to SQS, with its parameters."""
    calls: list[dict] = []

    def seen(params, **_):
        calls.append(params)

    hook = (f"before-parameter-build.sqs.{operation}", seen)
    handlers.BUILTIN_HANDLERS.append(hook)
    rebind_app()  # the app's clients are made again, with the hook
    try:
        yield calls
    finally:
        handlers.BUILTIN_HANDLERS.remove(hook)
        rebind_app()


def queued(aws) -> list[dict]:
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_reviews_due_now_are_queued_by_their_push_in_one_request(client, aws, clock, market, shop):
    for tid in TIDS[:3]:
        add_market_trade(market, clock, tid)
    with sqs_calls("SendMessageBatch") as calls:
        response = push(client, [trade_message(shop, tid, clock.now()) for tid in TIDS[:3]], clock.now())
    assert [r["status"] for r in json_body(response)["results"]] == ["ok"] * 3
    assert len(calls) == 1  # the whole push's jobs in one request, sent when the push was done
    assert sorted(job["tid"] for job in queued(aws)) == TIDS[:3]  # before any sweep


def test_a_review_due_later_waits_for_the_sweep(client, aws, clock, market, shop):
    seller = sellers.get(shop)
    seller.settings = {**seller.settings, "mode": "delay", "delay_hours": 2}
    from chalicelib.store import seller_writes

    seller_writes.set_settings(
        shop, seller.settings, expected_version=int(seller.settings_version or 0), now=clock.now()
    )
    add_market_trade(market, clock, TIDS[0])
    push(client, [trade_message(shop, TIDS[0], clock.now())], clock.now())
    assert tasks.get(shop, TIDS[0]).state == "scheduled"
    assert queued(aws) == []  # due in two hours, beyond SQS's fifteen-minute delay: the sweep queues it then


def test_a_retry_due_within_fifteen_minutes_is_queued_delayed(client, aws, clock, market, shop):
    add_market_trade(market, clock, TIDS[0])
    market.faults.set("taobao.traderate.add", error_rate=1.0, error_code=10, error_sub_code=None)
    push(client, [trade_message(shop, TIDS[0], clock.now())], clock.now())
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10)["Messages"]
    with sqs_calls("SendMessageBatch") as calls:
        worker.handle(sqs_event(got, aws["queue_url"]), lambda_context())
    task = tasks.get(shop, TIDS[0])
    assert (task.state, task.reason) == ("scheduled", "transient")
    wait = task.due_at - int(clock.now().timestamp())
    assert 0 < wait <= 900
    [entry] = [e for call in calls for e in call["Entries"]]
    assert json.loads(entry["MessageBody"]) == {"seller_id": shop, "tid": TIDS[0]}
    assert wait <= entry["DelaySeconds"] <= wait + 1  # delivered when the retry is due (to the second), not before


def test_a_batch_runs_its_records_at_once_and_reports_exactly_the_failed_ones(
    client, aws, clock, market, shop, monkeypatch
):
    for tid in TIDS:
        add_market_trade(market, clock, tid)
    push(client, [trade_message(shop, tid, clock.now()) for tid in TIDS[:8]], clock.now())
    aws["sqs"].purge_queue(QueueUrl=aws["queue_url"])
    records = [
        {"MessageId": f"ok{i}", "ReceiptHandle": "r", "Body": json.dumps({"seller_id": shop, "tid": tid})}
        for i, tid in enumerate(TIDS[:8])
    ]
    records += [
        {"MessageId": "poison0", "ReceiptHandle": "r", "Body": "{not json"},
        {"MessageId": "poison1", "ReceiptHandle": "r", "Body": '{"tid": 1}'},
    ]
    # Every good record waits for all the others before it posts: run one after another, none could go on.
    together = threading.Barrier(8, timeout=20)
    real = worker.process_job

    def after_the_others(seller_id, tid, *, now):
        together.wait()
        return real(seller_id, tid, now=now)

    monkeypatch.setattr(worker, "process_job", after_the_others)
    with CrashAfterPost(times=2) as crash:  # two workers die after their post, before recording it
        response = worker.handle(sqs_event(records, aws["queue_url"]), lambda_context())

    crashed = {f"ok{TIDS.index(tid)}" for _, tid in crash.crashed}
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {"poison0", "poison1"} | crashed and len(crashed) == 2
    states = {tid: tasks.get(shop, tid).state for tid in TIDS[:8]}
    assert sorted(states.values()) == ["claimed"] * 2 + ["posted"] * 6
    assert all(market.post_counts(int(tid)) == 1 for tid in TIDS[:8])


@pytest.fixture
def counted():
    counter = DynamoCounter().install()
    rebind_app()  # the app's clients are made again, with the counter's hooks
    yield counter
    counter.uninstall()
    rebind_app()


def test_cold_caches_cost_a_batch_one_seller_read_and_no_blacklist_query(client, aws, clock, market, shop, counted):
    for tid in TIDS[:5]:
        add_market_trade(market, clock, tid)
    container().forget_caches()
    with counted.phase_of("push"):
        push(client, [trade_message(shop, tid, clock.now()) for tid in TIDS[:5]], clock.now())
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10)["Messages"]
    container().forget_caches()
    with counted.phase_of("worker"):
        worker.handle(sqs_event(got, aws["queue_url"]), lambda_context())
    assert all(tasks.get(shop, tid).state == "posted" for tid in TIDS[:5])
    for phase in ("push", "worker"):
        reads = {
            op: n
            for op, n in counted.breakdown(phases=(phase,)).items()
            if op.split()[0] in ("GetItem", "BatchGetItem", "Query")
        }
        assert reads.get("BatchGetItem Sellers") == 1 and "GetItem Sellers" not in reads, (phase, reads)
        assert "Query Blacklist" not in reads, (phase, reads)


def test_the_first_blacklist_entry_flags_the_seller_and_its_reviews_then_read_the_blacklist(
    client, aws, clock, market, shop
):
    assert not sellers.get(shop).has_blacklist
    response = client.http.post(
        "/api/blacklist", headers=session(shop, clock.now()), body=json.dumps({"nick": "tb_buyer_77"})
    )
    assert response.status_code in (200, 201), response.body
    assert sellers.get(shop).has_blacklist
    add_market_trade(market, clock, TIDS[0])
    push(client, [trade_message(shop, TIDS[0], clock.now())], clock.now())
    task = tasks.get(shop, TIDS[0])
    assert (task.state, task.reason) == ("skipped", "blacklisted")

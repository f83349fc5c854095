"""A malformed or hostile item never blocks anything else: a review job that fails in a way no branch expects gives
its hourly-cap slot back and ends ``failed`` with a reason and an alert after the retry budget (never looping until
its window closes), and ids in odd unicode digits are refused at the edge."""

from __future__ import annotations

import json

import pytest

from chalicelib.services.reviews import post_review
from chalicelib.store import outbox, stats, tasks
from sandbox.lambda_driver import deliver_batch, scheduled_event
from tests.helpers import add_market_trade, json_body, push, trade_message

TID = "3900000000000901"


@pytest.fixture
def due_task(client, aws, clock, market, shop):
    add_market_trade(market, clock, TID)
    push(client, [trade_message(shop, TID, clock.now())], clock.now())  # its job is queued at once
    clock.advance(60)
    return shop


def _sweep_and_work(client, aws, clock) -> None:
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    deliver_batch(aws["sqs"], aws["queue_url"], lambda e: client.lambda_.invoke("worker", e).payload)


def test_a_job_failing_unexpectedly_ends_failed_with_an_alert_and_gives_its_slot_back(
    client, aws, clock, market, due_task, monkeypatch
):
    def broken(job, session):  # a bug between the reservation and the write
        raise ValueError("cannot build the request")

    monkeypatch.setattr(post_review, "_send", broken)
    rounds = 0
    while tasks.get(due_task, TID).state != "failed" and rounds < 20:
        _sweep_and_work(client, aws, clock)
        rounds += 1
        clock.advance(3601)  # past the longest backoff

    task = tasks.get(due_task, TID)
    assert (task.state, task.reason) == ("failed", "unexpected_ValueError_exhausted")
    assert rounds == 6 and int(task.attempts) == 6  # the rules' retry budget, then no more
    assert [n.kind for n in outbox.recent(due_task)] == ["review_failed"]
    hours = stats.read_range(due_task, "0000", "9999")
    assert sum(int(h.posts or 0) for h in hours) == 0  # every reserved slot was given back
    assert sum(int(h.write_failures or 0) for h in hours) == 0  # nothing was sent, nothing failed at the market
    assert market.calls["taobao.traderate.add"] == 0

    _sweep_and_work(client, aws, clock)  # a failed task is never taken again
    assert tasks.get(due_task, TID).state == "failed" and market.calls["taobao.traderate.add"] == 0


@pytest.mark.parametrize("field", ["oid", "tid"])
@pytest.mark.parametrize("digits", ["²³", "٣٤٥", "１２３"])
def test_ids_in_other_scripts_digits_are_refused_at_the_edge(client, aws, clock, shop, field, digits):
    message = trade_message(shop, TID, clock.now())
    content = json.loads(message["content"]) | {field: digits}
    message["content"] = json.dumps(content, ensure_ascii=False)

    answer = json_body(push(client, [message], clock.now()))

    assert answer["results"][0]["status"] == "rejected"
    assert tasks.get(shop, content["tid"]) is None

"""The daily reconcile: what the marketplace knows and the app missed is caught up, once, per seller."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from chalicelib.domain.task_state import Event
from chalicelib.handlers import reconcile
from chalicelib.marketplace.errors import Throttled
from chalicelib.services.jobs import seller_jobs
from chalicelib.services.jobs.reconcile_seller import reconcile_seller
from chalicelib.store import audit, control, outbox, sellers, tasks
from chalicelib.store.control import CallsPaused
from chalicelib.store.sellers import SELLER_SHARDS
from sandbox.lambda_driver import deliver_batch, drain, lambda_context, scheduled_event, sqs_event
from sandbox.stack import rebind_app
from tests.helpers import make_seller, push, set_seller, trade_message

TID = "3900000000000101"


@pytest.fixture
def reconcile_queue(aws, monkeypatch):
    """The reconcile queue (the shared ``aws`` fixture only makes the review queue)."""
    url = aws["sqs"].create_queue(QueueName="reliability-reconcile")["QueueUrl"]
    monkeypatch.setenv("HAOPING_RECONCILE_QUEUE_URL", url)
    rebind_app()
    return url


def finish_trade(market, clock, tid: str, *, nick: str = "test_shop", ended=None, buyer: str = "tb_buyer_77") -> None:
    """A finished trade on the marketplace (no message is pushed for it)."""
    ended = ended or clock.now()
    market.add_trade(
        nick,
        tid=int(tid),
        oid=int(tid) + 1,
        buyer_nick=buyer,
        buyer_open_uid=f"AAH{tid}",
        payment="59.00",
        item_title="保温杯",
        created=ended - timedelta(days=3),
        end_time=ended,
    )


def sweep_and_work(client, aws, clock) -> None:
    """One sweep tick, then the worker on everything it queued (as Lambda's event source mapping would)."""
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    while deliver_batch(aws["sqs"], aws["queue_url"], lambda e: client.lambda_.invoke("worker", e).payload).received:
        pass


def with_delay(seller_id: str, clock, hours: int = 24) -> None:
    set_seller(seller_id, clock.now(), settings={"mode": "delay", "delay_hours": hours})


def test_a_trade_whose_message_was_lost_is_scheduled_once_and_posted(client, aws, clock, market, shop):
    finish_trade(market, clock, TID)
    clock.advance(3600)

    first = reconcile_seller(shop, now=clock.now())
    again = reconcile_seller(shop, now=clock.now())

    assert (first.scheduled, again.scheduled) == (1, 0)
    assert tasks.get(shop, TID).state == "scheduled"
    sweep_and_work(client, aws, clock)
    assert tasks.get(shop, TID).state == "posted"
    assert market.post_counts(int(TID)) == 1
    # A late push of the lost message finds the task and changes nothing.
    late = push(client, [trade_message(shop, TID, clock.now())], clock.now())
    assert json.loads(late.body)["results"][0]["status"] == "duplicate"


def test_a_trade_whose_rating_window_closed_gets_no_task(aws, clock, market, shop):
    old = clock.now() - timedelta(days=15, minutes=1)
    market.add_trade(
        "test_shop",
        tid=int(TID),
        oid=int(TID) + 1,
        buyer_nick="tb_buyer_77",
        buyer_open_uid="AAH1",
        payment="9.00",
        item_title="x",
        created=old - timedelta(days=1),
        end_time=old,
        modified=clock.now() - timedelta(hours=1),
    )

    result = reconcile_seller(shop, now=clock.now())

    assert (result.trades_seen, result.scheduled) == (1, 0)
    assert tasks.get(shop, TID) is None


def test_a_review_already_on_the_marketplace_settles_the_open_task_without_posting(client, aws, clock, market, shop):
    with_delay(shop, clock)
    finish_trade(market, clock, TID)
    push(client, [trade_message(shop, TID, clock.now())], clock.now())
    # The seller rated the trade by hand in the seller center: the app could not know.
    market.state.rate("test_shop", int(TID), None, "good", "", False)

    result = reconcile_seller(shop, now=clock.now() + timedelta(minutes=5))

    task = tasks.get(shop, TID)
    assert result.settled == 1
    assert (task.state, task.reason, task.due_at) == ("posted", "already_rated", None)
    assert any(r.action == "task.settle" and r.target == TID for r in audit.trail(shop))
    clock.advance(2 * 86400)
    sweep_and_work(client, aws, clock)
    assert market.post_counts(int(TID)) == 1


def test_a_stale_claim_after_an_accepted_post_is_settled_as_posted(aws, clock, market, shop):
    finish_trade(market, clock, TID)
    reconcile_seller(shop, now=clock.now())
    tasks.transition(shop, TID, Event.CLAIM, now=clock.now(), shards=4, due_at=clock.now() + timedelta(minutes=5))
    market.state.rate("test_shop", int(TID), None, "good", "感谢", False)  # the worker's post, never recorded

    reconcile_seller(shop, now=clock.now() + timedelta(minutes=1))

    assert tasks.get(shop, TID).state == "posted"


def test_a_missed_bad_buyer_rating_is_applied_and_alerts_once(client, aws, clock, market, shop):
    with_delay(shop, clock)
    finish_trade(market, clock, TID)
    push(client, [trade_message(shop, TID, clock.now())], clock.now())
    market.add_buyer_rate(int(TID), "bad", "差评")
    clock.advance(600)

    first = reconcile_seller(shop, now=clock.now())
    again = reconcile_seller(shop, now=clock.now())

    task = tasks.get(shop, TID)
    assert (first.ratings_applied, again.ratings_applied) == (1, 0)
    assert (task.state, task.reason, task.buyer_rating) == ("skipped", "buyer_bad_rating", "bad")
    assert [n.kind for n in outbox.recent(shop)].count("buyer_rating_bad") == 1


def test_an_invalid_session_marks_only_that_seller_for_reauthorization(aws, clock, market, shop):
    other = market.add_seller("other_shop")
    other_id = make_seller(clock.now(), user_id=other.user_id, nick="other_shop", access_token=other.access_token)
    finish_trade(market, clock, TID)
    finish_trade(market, clock, "3900000000000202", nick="other_shop")
    market.end_sessions("test_shop")

    skipped = reconcile_seller(shop, now=clock.now())
    done = reconcile_seller(other_id, now=clock.now())

    assert (skipped.outcome, skipped.reason) == ("skipped", "reauth")
    assert sellers.get(shop).status == "reauth"
    assert (done.outcome, done.scheduled) == ("done", 1)
    assert sellers.get(other_id).status == "active"
    assert not control.read_switches(fresh=True).paused(clock.now())


def test_a_quota_ban_pauses_everyone_and_the_job_is_retried_after_it(aws, clock, market, shop):
    finish_trade(market, clock, TID)
    market.faults.ban(600)

    with pytest.raises(Throttled):
        reconcile_seller(shop, now=clock.now())
    assert control.read_switches(fresh=True).paused(clock.now())
    with pytest.raises(CallsPaused):
        reconcile_seller(shop, now=clock.now() + timedelta(minutes=5))

    clock.advance(601)
    assert reconcile_seller(shop, now=clock.now()).scheduled == 1


def test_the_daily_run_reconciles_each_seller_once_and_the_worker_reports_only_failed_records(
    aws, clock, market, shop, reconcile_queue
):
    finish_trade(market, clock, TID)
    started = reconcile.fan_out(scheduled_event(clock.now()), lambda_context())
    assert started["plans"] == SELLER_SHARDS  # one plan message per seller shard, whatever the number of sellers
    got = aws["sqs"].receive_message(QueueUrl=reconcile_queue, MaxNumberOfMessages=1)["Messages"]
    poison = {**got[0], "MessageId": "poison", "Body": '{"seller": 1}'}

    response = reconcile.handle(sqs_event([got[0], poison], reconcile_queue), lambda_context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    aws["sqs"].delete_message(QueueUrl=reconcile_queue, ReceiptHandle=got[0]["ReceiptHandle"])
    drain(aws["sqs"], reconcile_queue, lambda event: reconcile.handle(event, lambda_context()))
    assert tasks.get(shop, TID).state == "scheduled"
    # The run is recorded per seller: this one, once, with the trade it scheduled.
    assert seller_jobs.report("reconcile", started["run"]) == (1, Counter({"done": 1, "scheduled": 1}))

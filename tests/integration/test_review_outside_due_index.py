"""A review queued at once reaches the worker by its job alone: it is written outside the sweep's ``due`` index (two
write units a review less), and joins the index wherever its job could be lost — a send that fails, a job that
meets the task early or claimed by another worker, a worker that gives its job back after an error, a duplicate
push of the trade, and the daily reconcile finding it waiting long past its time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.container import container
from chalicelib.domain.task_state import Event
from chalicelib.services.jobs.reconcile_seller import reconcile_seller
from chalicelib.services.reviews import review_queue
from chalicelib.store import queues, tasks
from chalicelib.store.models import Task
from sandbox.chaos import CrashAfterPost, InjectedCrash
from tests.helpers import add_market_trade, lose_queued_jobs, push, trade_message
from tests.integration.test_reliability_crash import deliver, sweep

TID = "3900000000000951"


def _push(client, clock, market, shop, tid: str = TID, **extra) -> None:
    add_market_trade(market, clock, tid)
    push(client, [trade_message(shop, tid, clock.now(), **extra)], clock.now())


def test_a_review_queued_at_once_is_outside_the_due_index_and_posts_by_its_job(client, aws, clock, market, shop):
    _push(client, clock, market, shop)
    task = tasks.get(shop, TID)
    assert task.state == "scheduled" and task.due_at <= clock.now().timestamp()
    assert task.due_shard is None and tasks.outside_due_index(task)
    assert sweep(client, clock)["queued"] == 0  # the sweep never sees it: its job is on the queue

    deliver(client, aws)

    task = tasks.get(shop, TID)
    assert task.state == "posted" and task.due_shard is None and task.due_at is None
    assert market.post_counts(int(TID)) == 1


def test_a_review_due_beyond_the_queues_delay_limit_is_in_the_due_index(client, aws, clock, market, shop):
    from chalicelib.store import seller_writes, sellers

    seller = sellers.get(shop)
    settings = {**seller.settings, "mode": "delay", "delay_hours": 2}
    seller_writes.set_settings(shop, settings, expected_version=int(seller.settings_version or 0), now=clock.now())
    _push(client, clock, market, shop)
    assert tasks.get(shop, TID).due_shard is not None


def test_a_failed_send_puts_its_tasks_in_the_due_index_for_the_sweep(client, aws, clock, market, shop, monkeypatch):
    def refused(*_args, **_kwargs):
        raise queues.SendFailed("SQS refused 1 of 1 messages: InternalError")

    with monkeypatch.context() as patch:  # the fixtures' own patches stay
        patch.setattr(queues, "send_jobs", refused)
        _push(client, clock, market, shop)

    task = tasks.get(shop, TID)
    assert task.state == "scheduled" and task.due_shard is not None
    assert sweep(client, clock)["queued"] == 1
    deliver(client, aws)
    assert tasks.get(shop, TID).state == "posted" and market.post_counts(int(TID)) == 1


def test_a_duplicate_push_queues_a_waiting_review_again(client, aws, clock, market, shop):
    _push(client, clock, market, shop)
    lose_queued_jobs(aws)  # the push before died after writing the task, before sending its job

    push(client, [trade_message(shop, TID, clock.now())], clock.now())  # the marketplace delivers it again

    deliver(client, aws)
    assert tasks.get(shop, TID).state == "posted" and market.post_counts(int(TID)) == 1


def test_a_job_meeting_another_workers_claim_puts_the_task_in_the_index_at_the_claims_end(
    client, aws, clock, market, shop
):
    _push(client, clock, market, shop)
    lease = clock.now() + timedelta(seconds=300)
    shards = container().settings.due_shards
    # Another worker holds it, and dies.
    claimed = tasks.transition(shop, TID, Event.CLAIM, now=clock.now(), shards=shards, due_at=lease, require_due=True)
    assert claimed is not None

    done = deliver(client, aws)

    assert done.deleted == done.received  # this job is done: not due while the claim holds
    task = tasks.get(shop, TID)
    assert task.due_shard is not None and task.due_at == int(lease.timestamp())
    assert sweep(client, clock)["queued"] == 0
    clock.advance(301)
    assert sweep(client, clock)["queued"] == 1  # the claim lapsed: the sweep queues it
    deliver(client, aws)
    assert tasks.get(shop, TID).state == "posted" and market.post_counts(int(TID)) == 1


def test_a_job_arriving_before_its_task_is_due_leaves_it_to_the_sweep(client, aws, clock, market, shop):
    _push(client, clock, market, shop)
    later = int(clock.now().timestamp()) + 120
    Task(shop, TID).update(actions=[Task.due_at.set(later)])  # the writer's clock ran ahead of this worker's

    deliver(client, aws)

    task = tasks.get(shop, TID)
    assert task.state == "scheduled" and task.due_shard is not None and task.due_at == later
    assert sweep(client, clock)["queued"] == 0
    clock.advance(121)
    assert sweep(client, clock)["queued"] == 1


def test_a_worker_that_gives_its_job_back_after_an_error_puts_the_task_in_the_index(client, aws, clock, market, shop):
    _push(client, clock, market, shop)
    with CrashAfterPost():
        crashed = deliver(client, aws)
    assert crashed.kept == crashed.received  # SQS delivers it again later; it may also give up on it

    task = tasks.get(shop, TID)
    assert task.state == "claimed" and task.due_shard is not None and task.due_at == task.claimed_until
    clock.advance(301)
    lose_queued_jobs(aws)  # the queue gave up on the job (its dead-letter queue)
    assert sweep(client, clock)["queued"] == 1
    deliver(client, aws)
    task = tasks.get(shop, TID)
    assert (task.state, task.reason) == ("posted", "already_rated") and market.post_counts(int(TID)) == 1


@pytest.mark.parametrize("waited_minutes, rescued", [(2, False), (6, True)])
def test_the_daily_reconcile_rescues_a_review_whose_job_was_lost(
    client, aws, clock, market, shop, waited_minutes, rescued
):
    _push(client, clock, market, shop)
    lose_queued_jobs(aws)
    clock.advance(waited_minutes * 60)

    reconcile_seller(shop, now=clock.now())

    task = tasks.get(shop, TID)
    assert (task.due_shard is not None) is rescued  # one still on its way is left alone
    if rescued:
        assert sweep(client, clock)["queued"] == 1
        deliver(client, aws)
        assert tasks.get(shop, TID).state == "posted" and market.post_counts(int(TID)) == 1


def test_rescue_writes_nothing_for_a_task_in_the_index_or_done(client, aws, clock, market, shop):
    _push(client, clock, market, shop)
    deliver(client, aws)
    posted = tasks.get(shop, TID)
    assert not review_queue.rescue(posted)
    assert not tasks.index_due(
        shop, TID, clock.now(), shards=container().settings.due_shards
    )  # conditional: only a waiting task joins
    assert tasks.get(shop, TID).due_shard is None


def test_a_reconcile_that_died_before_sending_its_jobs_rescues_their_tasks_when_delivered_again(
    client, aws, clock, market, shop, monkeypatch
):
    add_market_trade(market, clock, TID)  # its push was lost: the reconcile finds the trade
    clock.advance(60)

    def died(_pending):
        raise InjectedCrash("the reconcile's invocation ended before its jobs went out")

    with monkeypatch.context() as patch, pytest.raises(InjectedCrash):
        patch.setattr(review_queue, "_send", died)
        with review_queue.batched():
            reconcile_seller(shop, now=clock.now())
    assert tasks.outside_due_index(tasks.get(shop, TID))

    clock.advance(360)  # SQS delivers the reconcile's message again after its visibility timeout
    with review_queue.batched():
        reconcile_seller(shop, now=clock.now())

    assert tasks.get(shop, TID).due_shard is not None
    assert sweep(client, clock)["queued"] == 1
    deliver(client, aws)
    assert tasks.get(shop, TID).state == "posted" and market.post_counts(int(TID)) == 1

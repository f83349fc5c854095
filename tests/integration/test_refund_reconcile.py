"""Refunds are read from the marketplace too (``taobao.refunds.receive.get``): a refund whose push was lost can no
longer let a refunded trade be reviewed. The worker reads the seller's refunds before posting the review of a trade
that ended a while ago, and the daily reconcile reads its window."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.marketplace.errors import TopCode
from chalicelib.services.jobs.reconcile_seller import reconcile_seller
from chalicelib.store import sellers, tasks
from sandbox.lambda_driver import scheduled_event
from tests.helpers import add_market_trade, make_seller, push, trade_message, work_review_queue

TID = "3900000000000901"
OTHER = "3900000000000902"
REFUNDS = "taobao.refunds.receive.get"
NICK = "refund_shop"


def _seller(market, clock, **settings) -> str:
    account = market.add_seller(NICK)
    return make_seller(
        clock.now(), user_id=account.user_id, nick=NICK, access_token=account.access_token, settings=settings
    )


def _trade(client, clock, market, seller_id: str, tid: str) -> None:
    add_market_trade(market, clock, tid, seller_nick=NICK)
    push(client, [trade_message(seller_id, tid, clock.now(), seller_nick=NICK)], clock.now())


def _work(client, clock) -> None:
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    work_review_queue(client)


def test_a_lost_refund_success_push_skips_the_review(client, aws, clock, market):
    seller_id = _seller(market, clock, mode="delay", delay_hours=6)
    _trade(client, clock, market, seller_id, TID)
    clock.advance(3600)
    market.refund(int(TID), "SUCCESS")  # the marketplace knows; its push never arrives
    clock.advance(5 * 3600 + 60)

    _work(client, clock)

    task = tasks.get(seller_id, TID)
    assert (task.state, task.reason) == ("skipped", "refunded")
    assert market.post_counts(int(TID)) == 0 and market.calls[REFUNDS] == 1
    assert sellers.get(seller_id).refunds_synced_at == int(clock.now().timestamp())


def test_an_open_refund_holds_the_review_until_the_daily_reconcile_sees_it_closed(client, aws, clock, market):
    seller_id = _seller(market, clock, mode="delay", delay_hours=6)
    _trade(client, clock, market, seller_id, TID)
    market.refund(int(TID), "WAIT_SELLER_AGREE")
    clock.advance(6 * 3600 + 60)
    _work(client, clock)
    assert (tasks.get(seller_id, TID).state, tasks.get(seller_id, TID).holds) == ("held", {"refund"})

    clock.advance(3600)
    market.refund(int(TID), "CLOSED")  # the buyer withdrew; this push is lost too
    clock.advance(3600)
    result = reconcile_seller(seller_id, now=clock.now(), since=clock.now() - timedelta(days=2))

    assert result.refunds_applied == 1
    assert tasks.get(seller_id, TID).state == "scheduled"
    _work(client, clock)
    assert (tasks.get(seller_id, TID).state, market.post_counts(int(TID))) == ("posted", 1)


def test_a_review_posted_right_after_the_trade_reads_no_refunds(client, aws, clock, market):
    seller_id = _seller(market, clock, mode="immediate")
    _trade(client, clock, market, seller_id, TID)
    work_review_queue(client)  # the job queued when the task was made
    assert tasks.get(seller_id, TID).state == "posted" and market.calls[REFUNDS] == 0


def test_refunds_are_read_once_for_the_posts_of_ten_minutes(client, aws, clock, market):
    seller_id = _seller(market, clock, mode="delay", delay_hours=6)
    _trade(client, clock, market, seller_id, TID)
    _trade(client, clock, market, seller_id, OTHER)
    clock.advance(6 * 3600 + 60)
    _work(client, clock)
    assert [tasks.get(seller_id, t).state for t in (TID, OTHER)] == ["posted", "posted"]
    assert market.calls[REFUNDS] == 1


def test_an_app_without_the_refunds_permission_still_posts(client, aws, clock, market):
    seller_id = _seller(market, clock, mode="delay", delay_hours=6)
    _trade(client, clock, market, seller_id, TID)
    market.faults.set(REFUNDS, error_rate=1.0, error_code=TopCode.INSUFFICIENT_ISV_PERMISSIONS, error_sub_code=None)
    clock.advance(6 * 3600 + 60)
    _work(client, clock)
    assert tasks.get(seller_id, TID).state == "posted"


def test_a_failing_refunds_read_waits_instead_of_posting_blind(client, aws, clock, market):
    seller_id = _seller(market, clock, mode="delay", delay_hours=6)
    _trade(client, clock, market, seller_id, TID)
    market.faults.set(REFUNDS, error_rate=1.0)  # platform-side failure
    clock.advance(6 * 3600 + 60)
    _work(client, clock)
    task = tasks.get(seller_id, TID)
    assert (task.state, task.reason) == ("scheduled", "refunds_unread") and market.post_counts(int(TID)) == 0

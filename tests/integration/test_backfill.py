"""Install triggers the backfill (补评): every finished trade of the last 15 days the seller has not rated gets its
review task, as if its message had been pushed (settings, blacklist, refunds and buyer ratings apply), a page at a
time through its own queue (never in front of the daily reconcile); its progress shows in the API; a second run
doubles nothing; a backfill job queued on the reconcile queue before the backfill queue existed still runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.container import container
from chalicelib.services.onboarding.backfill import start_backfill
from chalicelib.services.sellers.seller_blacklist import add_buyer
from chalicelib.store import sellers, tasks
from chalicelib.store.models import Seller
from sandbox.lambda_driver import scheduled_event
from tests.helpers import (
    json_body,
    oauth_login,
    work_backfill_queue,
    work_install_queues,
    work_reconcile_queue,
    work_review_queue,
)

NICK = "backfill_shop"
PLAN = "FW_GOODS-1000000-2"


def _sold(market, clock, tid: int, *, days_ago: float, buyer: str = "tb_buyer_1", status: str = "TRADE_FINISHED"):
    ended = clock.now() - timedelta(days=days_ago)
    market.add_trade(
        NICK,
        tid=tid,
        oid=tid + 1,
        buyer_nick=buyer,
        buyer_open_uid=f"AAH{tid}",
        payment="59.00",
        item_title="保温杯",
        created=ended - timedelta(days=3),
        end_time=ended if status == "TRADE_FINISHED" else None,
        status=status,
    )


def _the_shops_history(market, clock) -> dict[str, int]:
    """Trades of the two weeks before the install, one per case the backfill must tell apart."""
    cases = {
        "unrated": 3900000000001001,  # → scheduled, posted
        "rated_by_seller": 3900000000001003,  # the seller rated it by hand → left alone
        "rated_bad_by_buyer": 3900000000001005,  # → task skipped: the buyer's bad rating
        "rated_good_by_buyer": 3900000000001007,  # → scheduled, posted
        "refunded": 3900000000001009,  # a refund that succeeded → skipped
        "blacklisted_buyer": 3900000000001011,  # → skipped
        "too_old": 3900000000001013,  # ended 20 days ago: its window is closed
        "not_finished": 3900000000001015,  # never in the finished list
    }
    _sold(market, clock, cases["unrated"], days_ago=3)
    _sold(market, clock, cases["rated_by_seller"], days_ago=5)
    market.state.rate(NICK, cases["rated_by_seller"], None, "good", "谢谢", False)
    _sold(market, clock, cases["rated_bad_by_buyer"], days_ago=2)
    market.add_buyer_rate(cases["rated_bad_by_buyer"], "bad", "太慢了")
    _sold(market, clock, cases["rated_good_by_buyer"], days_ago=8)
    market.add_buyer_rate(cases["rated_good_by_buyer"], "good")
    _sold(market, clock, cases["refunded"], days_ago=1)
    market.refund(cases["refunded"], "SUCCESS")
    _sold(market, clock, cases["blacklisted_buyer"], days_ago=4, buyer="tb_pest_9")
    _sold(market, clock, cases["too_old"], days_ago=20)
    _sold(market, clock, cases["not_finished"], days_ago=1, status="WAIT_SELLER_SEND_GOODS")
    return cases


def _subscribe(seller_id: str, clock) -> None:
    paid_until = int((clock.now() + timedelta(days=30)).timestamp())
    Seller(seller_id).update(actions=[Seller.plan.set(PLAN), Seller.paid_until.set(paid_until)])
    sellers.forget(seller_id)


@pytest.fixture
def installed(client, aws, clock, market):
    """The shop's history on the marketplace, then the install (OAuth), a plan and a blacklisted buyer."""
    market.add_seller(NICK)
    cases = _the_shops_history(market, clock)
    login = json_body(oauth_login(client, NICK))
    seller_id = login["seller_id"]
    _subscribe(seller_id, clock)
    add_buyer(seller_id, nick="tb_pest_9", open_uid=None, now=clock.now())
    return seller_id, login["session_token"], cases


def test_install_backfills_the_unrated_trades_of_the_rating_window(client, aws, clock, market, installed):
    seller_id, session, cases = installed
    permits = work_reconcile_queue(client)
    pages = work_backfill_queue(client)

    state = {name: tasks.get(seller_id, str(tid)) for name, tid in cases.items()}
    assert state["unrated"].state == "scheduled"
    assert state["rated_good_by_buyer"].state == "scheduled" and state["rated_good_by_buyer"].buyer_rating == "good"
    assert (state["rated_bad_by_buyer"].state, state["rated_bad_by_buyer"].reason) == ("skipped", "buyer_bad_rating")
    assert (state["refunded"].state, state["refunded"].reason) == ("skipped", "refunded")
    assert (state["blacklisted_buyer"].state, state["blacklisted_buyer"].reason) == ("skipped", "blacklisted")
    assert state["rated_by_seller"] is None and state["too_old"] is None and state["not_finished"] is None
    # The authorization's permit job on the reconcile queue; on the backfill queue one job for the refunds, then one
    # per day window of the 15 (each a single page here): nothing of the backfill waits on the reconcile queue.
    assert permits == 1 and pages == 1 + 15 and market.calls["taobao.trades.sold.increment.get"] == 15

    progress = json_body(client.http.get("/api/subscription", headers={"Authorization": f"Bearer {session}"}))
    assert progress["backfill"] == {
        "state": "done",
        "reason": None,
        "started_at": progress["backfill"]["started_at"],
        "finished_at": progress["backfill"]["finished_at"],
        "days": 15,
        "days_done": 15,
        "trades": 6,
        "scheduled": 5,
        "already_rated": 1,
        "existing": 0,
        "skipped": 0,
    }

    journey = json_body(client.http.get("/api/journey", headers={"Authorization": f"Bearer {session}"}))
    assert ("backfill", "done") in [(step["step"], step["state"]) for step in journey["steps"]]

    # The scheduled reviews are posted by the worker as any other (their jobs were queued with the page).
    work_review_queue(client)
    assert market.post_counts(cases["unrated"]) == 1 and market.post_counts(cases["rated_good_by_buyer"]) == 1
    assert market.post_counts(cases["rated_by_seller"]) == 1  # the seller's own, never a second one


def test_a_second_run_doubles_nothing(client, aws, clock, market, installed):
    seller_id, _, cases = installed
    work_install_queues(client)
    work_review_queue(client)
    posted = {tid: market.post_counts(tid) for tid in cases.values()}

    clock.advance(3600)
    start_backfill(seller_id, now=clock.now())  # a reinstall starts the backfill again
    work_install_queues(client)
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))  # anything due would be queued again
    work_review_queue(client)

    assert {tid: market.post_counts(tid) for tid in cases.values()} == posted
    backfill = sellers.get(seller_id).backfill
    # Every trade of the first run has its task now (posted or skipped); the hand-rated one is still left alone.
    counts = (backfill["state"], backfill["scheduled"], backfill["existing"], backfill["already_rated"])
    assert counts == ("done", 0, 5, 1)


def test_a_newer_run_stops_the_older_ones_jobs(client, aws, clock, market, installed):
    seller_id, _, _ = installed
    clock.advance(60)
    start_backfill(seller_id, now=clock.now())  # replaces the install's run before its first job ran
    work_install_queues(client)
    backfill = sellers.get(seller_id).backfill
    assert backfill["state"] == "done" and backfill["started_at"] == int(clock.now().timestamp())
    assert market.calls["taobao.trades.sold.increment.get"] == 15  # the old run read nothing


def test_a_lost_authorization_stops_the_backfill_until_the_seller_returns(client, aws, clock, market, installed):
    seller_id, _, cases = installed
    market.end_sessions(NICK)
    work_backfill_queue(client)  # the backfill is first to meet the ended session (the permit job waits)
    backfill = sellers.get(seller_id).backfill
    assert (backfill["state"], backfill["reason"]) == ("stopped", "reauth")
    assert sellers.get(seller_id).status == "reauth"

    json_body(oauth_login(client, NICK))  # authorizing again starts a new run
    work_install_queues(client)
    assert sellers.get(seller_id).backfill["state"] == "done"
    assert tasks.get(seller_id, str(cases["unrated"])).state == "scheduled"


@pytest.mark.parametrize(("worker", "queue"), [("backfill_worker", "backfill"), ("reconcile_worker", "reconcile")])
def test_a_malformed_backfill_job_fails_alone(client, aws, clock, market, installed, worker, queue):
    from sandbox.lambda_driver import sqs_event

    url = getattr(container().settings, f"{queue}_queue_url")
    good = {"Body": '{"kind":"backfill","seller_id":"nobody","run":1,"step":"trades","window":0,"page":1}'}
    bad = {"Body": '{"kind":"backfill","seller_id":"x","run":"soon","step":"trades","window":0,"page":1}'}
    messages = [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", **m} for i, m in enumerate((good, bad))]
    answer = client.lambda_.invoke(worker, sqs_event(messages, url)).payload
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}  # the good one is a stale job: done


def test_the_backfill_queue_takes_no_other_kind_and_a_bad_permit_fails_alone(client, aws, clock, market, installed):
    from sandbox.lambda_driver import sqs_event

    permit = [{"MessageId": "p0", "ReceiptHandle": "rp", "Body": '{"kind":"permit","seller_id":"someone"}'}]
    backfill_url = container().settings.backfill_queue_url
    answer = client.lambda_.invoke("backfill_worker", sqs_event(permit, backfill_url)).payload
    assert answer == {"batchItemFailures": [{"itemIdentifier": "p0"}]}  # permits belong to the reconcile queue
    bad_permit = [{"MessageId": "p1", "ReceiptHandle": "rq", "Body": '{"kind":"permit","seller_id":7}'}]
    reconcile_url = container().settings.reconcile_queue_url
    answer = client.lambda_.invoke("reconcile_worker", sqs_event(bad_permit, reconcile_url)).payload
    assert answer == {"batchItemFailures": [{"itemIdentifier": "p1"}]}


def test_a_backfill_job_queued_on_the_reconcile_queue_before_the_backfill_queue_existed_still_runs(
    client, aws, clock, market, installed
):
    seller_id, _, cases = installed
    sqs = container().aws("sqs")
    settings = container().settings
    # The install's first job, as the previous release queued it: on the reconcile queue.
    (first,) = sqs.receive_message(QueueUrl=settings.backfill_queue_url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=settings.backfill_queue_url, ReceiptHandle=first["ReceiptHandle"])
    assert '"kind":"backfill"' in first["Body"].replace(" ", "")
    sqs.send_message(QueueUrl=settings.reconcile_queue_url, MessageBody=first["Body"])

    assert work_reconcile_queue(client) == 2  # the permit, and the old backfill job (its refunds step)
    assert sellers.get(seller_id).backfill["state"] == "running"
    assert work_reconcile_queue(client) == 0  # the run's next jobs went to the backfill queue
    assert work_backfill_queue(client) == 15

    progress = sellers.get(seller_id).backfill
    assert progress["state"] == "done" and progress["windows_done"] == progress["windows"] == 15
    assert tasks.get(seller_id, str(cases["unrated"])).state == "scheduled"


def test_a_day_beyond_the_page_limit_is_split_and_backfilled_whole(client, aws, clock, market, monkeypatch):
    from chalicelib.marketplace import client as top
    from chalicelib.services.onboarding import backfill
    from sandbox.market import apis as sandbox_apis

    # Pages of 3 and a limit of 2 pages on both sides: a day holding 20 trades is more than one query serves.
    monkeypatch.setattr(backfill, "PAGE_SIZE", 3)
    monkeypatch.setattr(top, "MAX_PAGE_NO", 2)
    monkeypatch.setattr(sandbox_apis, "MAX_PAGE_NO", 2)
    market.add_seller(NICK)
    tids = [3900000000003001 + 2 * i for i in range(20)]
    for i, tid in enumerate(tids):  # one trade every ten minutes of a day three days ago
        _sold(market, clock, tid, days_ago=3 - i * 10 / 1440)
    seller_id = json_body(oauth_login(client, NICK))["seller_id"]
    _subscribe(seller_id, clock)

    jobs = work_install_queues(client)

    progress = sellers.get(seller_id).backfill
    assert progress["state"] == "done" and progress["scheduled"] == len(tids)
    assert all(tasks.get(seller_id, str(tid)).state == "scheduled" for tid in tids)
    assert jobs > 2 + 15  # the busy day took more than one job: its halves were read on their own


class Killed(BaseException):
    """The process ended here (a Lambda timeout kills it): no ``except Exception`` runs."""


def test_a_timeout_between_the_runs_start_and_its_first_job_is_resumed_by_the_daily_reconcile(
    client, aws, clock, market, installed, monkeypatch
):
    from chalicelib.services.jobs.reconcile_seller import reconcile_seller
    from chalicelib.services.onboarding import backfill

    seller_id, _, cases = installed
    work_install_queues(client)  # the install's own run

    def killed(*args, **kwargs):
        raise Killed("the Lambda deadline")

    real_send = backfill.queues.send_jobs
    monkeypatch.setattr(backfill.queues, "send_jobs", killed)
    with pytest.raises(Killed):
        start_backfill(seller_id, now=clock.now())  # the run is written, its first job never sent
    monkeypatch.setattr(backfill.queues, "send_jobs", real_send)
    assert sellers.get(seller_id).backfill["state"] == "running"
    assert work_install_queues(client) == 0  # nothing queued: the run would show "running" forever

    clock.advance(3600)
    reconcile_seller(seller_id, now=clock.now())  # too early to call it stalled
    assert work_install_queues(client) == 0
    clock.advance(86_400)
    reconcile_seller(seller_id, now=clock.now())  # the daily run finds it stalled and queues it again
    assert work_reconcile_queue(client) == 0 and work_backfill_queue(client) > 0  # queued again on its own queue

    progress = sellers.get(seller_id).backfill
    assert progress["state"] == "done" and progress["windows_done"] == progress["windows"]
    assert tasks.get(seller_id, str(cases["unrated"])) is not None


def test_a_run_stalled_halfway_resumes_from_the_job_it_lost_not_from_its_start(
    client, aws, clock, market, installed, monkeypatch
):
    from chalicelib.services.jobs.reconcile_seller import reconcile_seller
    from chalicelib.services.onboarding import backfill

    seller_id, _, cases = installed
    lost_window = 12  # days 0-11 are read, among them three of the shop's trades
    real_send = backfill.queues.send_jobs
    lost = []

    def send_but_lose_one(queue_url, bodies):
        kept = [b for b in bodies if not (b.get("step") == "trades" and b.get("window") == lost_window and not lost)]
        lost.extend(b for b in bodies if b not in kept)
        return real_send(queue_url, kept)

    monkeypatch.setattr(backfill.queues, "send_jobs", send_but_lose_one)
    work_install_queues(client)  # the permit, the refunds, then days 0-11; day 12's job is lost
    monkeypatch.setattr(backfill.queues, "send_jobs", real_send)
    assert len(lost) == 1
    stalled = sellers.get(seller_id).backfill
    assert (stalled["state"], stalled["windows_done"], stalled["trades"]) == ("running", lost_window, 3)
    assert stalled["next"]["window"] == lost_window

    clock.advance(3600)
    reconcile_seller(seller_id, now=clock.now())  # too early to call it stalled
    assert work_backfill_queue(client) == 0
    clock.advance(86_400)
    reconcile_seller(seller_id, now=clock.now())  # the daily run finds it stalled and queues the lost job again
    increments = market.calls["taobao.trades.sold.increment.get"]
    jobs = work_backfill_queue(client)

    # Days 12-14 only: one job (one page) each, no refunds job, no day read twice.
    assert jobs == 15 - lost_window
    assert market.calls["taobao.trades.sold.increment.get"] - increments == 15 - lost_window
    progress = sellers.get(seller_id).backfill
    assert progress["state"] == "done" and progress["windows_done"] == 15 and "next" not in progress
    assert progress["trades"] == 6  # every trade of the window counted once
    assert sum(progress[name] for name in ("scheduled", "already_rated", "existing", "skipped")) == 6
    assert tasks.get(seller_id, str(cases["unrated"])) is not None

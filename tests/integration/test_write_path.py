"""Explanations go through the one write path, as reviews do: never sent inside the request that asks for them,
queued as a task, claimed, judged by the write guard with the seller's real hour counts (one hourly cap for
reviews and explanations), and the marketplace's answer classified once (retry, ban pause, re-authorization)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.container import container
from chalicelib.marketplace import topics
from chalicelib.marketplace.client import TopClient
from chalicelib.store import audit, control, sellers, stats, tasks
from sandbox.lambda_driver import scheduled_event
from tests.helpers import add_market_trade, json_body, push, topic_message, trade_message, work_review_queue
from tests.integration.test_seller_api import call, session

PLAN = "FW_GOODS-1000000-2"
EXPLAIN = "taobao.traderate.explain.add"
TID = "3900000000000881"


@pytest.fixture
def quick_client(clock, market, monkeypatch):
    """The TOP client without real backoff sleeps."""
    s = container().settings
    top = TopClient(
        s.marketplace_url,
        s.app_key,
        container().app_secret(),
        now=clock.now,
        sleep=lambda _: None,
        rng=random.Random(1),
    )
    monkeypatch.setattr(container(), "top", lambda: top)


def rated(client, clock, market, shop, tid: str = TID) -> None:
    """A finished, reviewed trade the buyer then rated bad."""
    add_market_trade(market, clock, tid)
    push(client, [trade_message(shop, tid, clock.now())], clock.now())
    work_review_queue(client)
    clock.advance(1800)
    market.add_buyer_rate(int(tid), "bad", "包装破了")
    message = topic_message(topics.TRADE_RATED, shop, tid, clock.now(), msg_id=f"r{tid}", rater="buyer", result="bad")
    assert json_body(push(client, [message], clock.now()))["results"][0]["status"] == "ok"


def ask(client, clock, shop, tid: str = TID):
    answer = call(client, "POST", f"/api/ratings/{tid}/explain", session(shop, clock.now()), {"text": "抱歉，已补发"})
    assert answer.status_code == 200, answer.body
    return json_body(answer)


def explanation(shop: str, tid: str = TID):
    return tasks.get(shop, tasks.explanation_tid(tid))


def test_the_request_only_queues_the_reply_and_the_worker_sends_it_once(client, clock, market, shop):
    rated(client, clock, market, shop)
    assert ask(client, clock, shop)["result"] == "queued"
    assert market.calls.get(EXPLAIN, 0) == 0
    assert explanation(shop).state == "scheduled"
    work_review_queue(client)
    work_review_queue(client)  # a redelivered job finds the task posted
    assert explanation(shop).state == "posted" and market.calls[EXPLAIN] == 1
    [record] = [r for r in audit.trail(shop) if r.action == EXPLAIN]
    assert (record.actor, record.result, record.target) == ("worker", "posted", tasks.explanation_tid(TID))
    [hour] = [b for b in stats.read_range(shop, "2026-11-11T00", "2026-11-11T23") if "T" in b.bucket]
    assert (hour.posts, hour.explains) == (1, 1)  # one review and one reply counted in the seller's hour
    # The reply is not a review: the seller's task list shows the trade once.
    listed = json_body(call(client, "GET", "/api/tasks", session(shop, clock.now())))["tasks"]
    assert [t["tid"] for t in listed] == [TID]


def test_reviews_and_replies_share_the_hourly_cap_and_a_capped_reply_waits_for_the_next_hour(
    client, clock, market, shop
):
    control.write_rules_override({"version": "2025.1-cap", "plans": {PLAN: {"hourly_cap": 1}}}, now=clock.now())
    rated(client, clock, market, shop)  # the review used the hour's one write
    ask(client, clock, shop)
    work_review_queue(client)
    task = explanation(shop)
    assert (task.state, task.reason) == ("scheduled", "capped")
    next_hour = clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert task.due_at == int(next_hour.timestamp()) and market.calls.get(EXPLAIN, 0) == 0
    assert shop not in control.read_switches(fresh=True).kill_sellers

    clock.set(next_hour)
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    work_review_queue(client)
    assert explanation(shop).state == "posted" and market.calls[EXPLAIN] == 1


def test_a_kill_switch_holds_replies_back_like_reviews(client, clock, market, shop):
    rated(client, clock, market, shop)
    control.set_kill_seller(shop, True, now=clock.now())
    ask(client, clock, shop)
    work_review_queue(client)
    assert (explanation(shop).state, explanation(shop).reason) == ("scheduled", "kill_switch")
    assert market.calls.get(EXPLAIN, 0) == 0


def test_a_transient_error_is_retried_with_backoff_not_cached_as_a_result(client, clock, market, shop, quick_client):
    rated(client, clock, market, shop)
    market.faults.set(EXPLAIN, error_rate=1.0)  # isp.* on every call
    ask(client, clock, shop)
    work_review_queue(client)
    task = explanation(shop)
    assert (task.state, task.reason, task.attempts) == ("scheduled", "transient", 1)
    assert task.due_at > clock.now().timestamp()
    market.faults.clear()
    clock.set(datetime.fromtimestamp(task.due_at, UTC))
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    work_review_queue(client)
    assert explanation(shop).state == "posted"


def test_a_ban_pauses_every_write_until_it_ends(client, clock, market, shop):
    rated(client, clock, market, shop)
    market.faults.ban(600)
    ask(client, clock, shop)
    work_review_queue(client)
    task = explanation(shop)
    assert (task.state, task.reason, task.attempts) == ("scheduled", "throttled", 0)
    assert control.read_switches(fresh=True).paused(clock.now())


def test_an_invalid_session_holds_the_reply_for_reauthorization(client, clock, market, shop):
    rated(client, clock, market, shop)
    market.end_sessions("test_shop")
    ask(client, clock, shop)
    work_review_queue(client)
    task = explanation(shop)
    assert (task.state, task.reason) == ("held", "reauth") and task.holds == {"reauth"}
    assert sellers.get(shop).status == "reauth"

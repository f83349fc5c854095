"""Marketplace faults, injected by the sandbox: transient errors are retried with bounded backoff, a quota
ban pauses every marketplace call for its duration and lifts by itself, an invalid session holds one seller."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.container import container
from chalicelib.marketplace.client import TopClient
from chalicelib.services.onboarding.onboard_seller import onboard
from chalicelib.store import control, sellers, tasks
from sandbox.lambda_driver import deliver_batch, scheduled_event
from tests.helpers import add_market_trade, make_seller, push, trade_message

TID = "3900000000000501"
OTHER_TID = "3900000000000502"
REVIEW = "taobao.traderate.add"


class RecordingSleep:
    """The client's backoff pauses, recorded instead of slept."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def backoff(clock, market):
    """The worker's TOP client with its backoff sleeps recorded (undone before the store is unbound)."""
    sleep = RecordingSleep()
    s = container().settings
    top = TopClient(
        s.marketplace_url, s.app_key, container().app_secret(), now=clock.now, sleep=sleep, rng=random.Random(1)
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(container(), "top", lambda: top)
        yield sleep


def add_trade(client, clock, market, seller_id: str, tid: str, nick: str = "test_shop") -> None:
    add_market_trade(market, clock, tid, seller_nick=nick)
    push(client, [trade_message(seller_id, tid, clock.now())], clock.now())


def run(client, aws, clock) -> dict:
    """One sweep tick and the worker on what it queued; returns the sweep's answer."""
    swept = client.lambda_.invoke("sweep", scheduled_event(clock.now())).payload
    while deliver_batch(aws["sqs"], aws["queue_url"], lambda e: client.lambda_.invoke("worker", e).payload).received:
        pass
    return swept


def test_transient_errors_retry_with_growing_backoff_and_stop_at_the_attempt_limit(
    client, aws, clock, market, shop, backoff
):
    add_trade(client, clock, market, shop, TID)
    market.faults.set(REVIEW, error_rate=1.0)  # a platform-side failure (isp.*) on every call
    clock.advance(60)
    waits = []
    for _ in range(6):
        run(client, aws, clock)
        task = tasks.get(shop, TID)
        if task.state != "scheduled":
            break
        waits.append(task.due_at - int(clock.now().timestamp()))
        clock.set(datetime.fromtimestamp(task.due_at, UTC))
    assert (task.state, task.reason, task.attempts) == ("failed", "transient_exhausted", 6)
    # Each logical call is tried three times by the client (sleeping 0.1-0.2 s, then 0.2-0.4 s)...
    assert market.calls[REVIEW] == 6 * 3
    assert all(
        0.1 <= a <= 0.2 and 0.2 <= b <= 0.4 for a, b in zip(backoff.delays[::2], backoff.delays[1::2], strict=True)
    )
    # ...and the worker waits longer after each failed job: 60 s doubling, half of it jittered.
    assert [60 * 2**k / 2 <= w <= 60 * 2**k for k, w in enumerate(waits)] == [True] * 5
    assert market.post_counts(int(TID)) == 0


def test_a_transient_outage_is_retried_until_the_review_posts_once(client, aws, clock, market, shop, backoff):
    add_trade(client, clock, market, shop, TID)
    clock.advance(60)
    market.faults.set(REVIEW, outage=(clock.now(), clock.now() + timedelta(minutes=10)))  # HTTP 503, no envelope

    run(client, aws, clock)
    assert (tasks.get(shop, TID).state, tasks.get(shop, TID).attempts) == ("scheduled", 1)
    clock.advance(3600)
    run(client, aws, clock)

    assert tasks.get(shop, TID).state == "posted"
    assert market.post_counts(int(TID)) == 1


def test_a_quota_ban_pauses_the_sweep_for_its_duration_and_work_resumes_by_itself(client, aws, clock, market, shop):
    add_trade(client, clock, market, shop, TID)
    add_trade(client, clock, market, shop, OTHER_TID)
    clock.advance(60)
    market.faults.ban(1800)

    run(client, aws, clock)
    calls_during_ban = market.calls[REVIEW]
    switches = control.read_switches(fresh=True)
    assert switches.paused_until >= int(clock.now().timestamp()) + 1799
    for _ in range(5):  # every tick inside the ban: the sweep stands still, nothing calls the marketplace
        clock.advance(300)
        assert run(client, aws, clock)["paused"] == "quota_pause"
    assert market.calls[REVIEW] == calls_during_ban

    clock.advance(301)
    assert run(client, aws, clock)["paused"] is None
    assert [tasks.get(shop, tid).state for tid in (TID, OTHER_TID)] == ["posted", "posted"]
    assert all(tasks.get(shop, tid).attempts == 0 for tid in (TID, OTHER_TID))  # a ban costs no attempt
    assert [market.post_counts(int(tid)) for tid in (TID, OTHER_TID)] == [1, 1]


def test_an_invalid_session_holds_that_seller_only_until_it_authorizes_again(client, aws, clock, market, shop):
    other = market.add_seller("other_shop")
    other_id = make_seller(clock.now(), user_id=other.user_id, nick="other_shop", access_token=other.access_token)
    add_trade(client, clock, market, shop, TID)
    add_trade(client, clock, market, other_id, OTHER_TID, nick="other_shop")
    market.end_sessions("test_shop")
    clock.advance(60)

    run(client, aws, clock)

    held = tasks.get(shop, TID)
    assert (held.state, held.reason, sellers.get(shop).status) == ("held", "reauth", "reauth")
    assert tasks.get(other_id, OTHER_TID).state == "posted"
    assert not control.read_switches(fresh=True).paused(clock.now())
    later = "3900000000000503"
    add_trade(client, clock, market, shop, later)
    assert tasks.get(shop, later).state == "held"

    redirect = "https://app.example/oauth/callback"
    code = market.auth.authorize("test_shop", redirect)
    onboard(container().oauth().exchange_code(code, redirect), now=clock.now())
    clock.advance(60)
    run(client, aws, clock)

    assert [tasks.get(shop, tid).state for tid in (TID, later)] == ["posted", "posted"]
    assert market.post_counts(int(TID)) == 1 and market.calls[REVIEW] == 4  # 1 refused, 3 posted

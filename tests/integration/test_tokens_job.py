"""The hourly ``tokens`` job: refresh before expiry; a dead grant means reauth, held tasks and a notice; authorizing
again releases the tasks. Sellers are onboarded through the real OAuth flow, so their tokens are the sandbox's."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.services.sellers.seller_tokens import access_token
from chalicelib.store import audit, outbox, sellers, tasks
from sandbox.lambda_driver import scheduled_event, sqs_event
from sandbox.stack import rebind_app
from tests.helpers import (
    APP_KEY,
    APP_SECRET,
    add_market_trade,
    json_body,
    oauth_login,
    push,
    run_job,
    set_seller,
    trade_message,
)

SESSION_HOURS = 6  # the sandbox's access tokens live 6 hours; the job refreshes within 3 hours of expiry
PLAN = "FW_GOODS-1000000-2"


@pytest.fixture
def market(aws, clock, monkeypatch):
    """A sandbox marketplace with short-lived access tokens (and 30-day refresh tokens)."""
    from sandbox.market import SandboxMarketplace

    sandbox = SandboxMarketplace(
        APP_KEY, APP_SECRET, clock.now, session_ttl_seconds=SESSION_HOURS * 3600, refresh_ttl_seconds=30 * 86400
    )
    url = sandbox.start()
    monkeypatch.setenv("HAOPING_MARKETPLACE_URL", url)
    monkeypatch.setenv("HAOPING_OAUTH_URL", url + "/oauth")
    monkeypatch.setenv("HAOPING_PUBLIC_URL", "https://haoping.test")
    rebind_app()
    yield sandbox
    sandbox.stop()


def onboard(client, clock, nick: str, **settings) -> str:
    """Authorize through OAuth, then subscribe (plan, paid period, settings) as billing would."""
    seller_id = json_body(oauth_login(client, nick))["seller_id"]
    paid_until = int((clock.now() + timedelta(days=30)).timestamp())
    set_seller(seller_id, clock.now(), settings=settings, plan=PLAN, paid_until=paid_until)
    return seller_id


def run_tokens_job(client, clock) -> dict:
    """The hourly run: its schedule, then the tokens queue's worker; the outcome counts of the sellers it served."""
    return run_job(client, "tokens", clock.now())


def run_sweep_and_worker(client, aws, clock) -> None:
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    if got:
        client.lambda_.invoke("worker", sqs_event(got, aws["queue_url"]))


def seed_trade(client, clock, market, nick: str, seller_id: str, tid: str) -> None:
    add_market_trade(market, clock, tid, seller_nick=nick)
    assert (
        json_body(push(client, [trade_message(seller_id, tid, clock.now())], clock.now()))["results"][0]["status"]
        == "ok"
    )


def test_a_token_expiring_within_the_margin_is_refreshed(client, aws, clock, market):
    seller_id = onboard(client, clock, "refresh_shop")
    before = sellers.get(seller_id)
    old_token = access_token(before, now=clock.now())
    clock.advance((SESSION_HOURS - 3) * 3600 + 60)

    assert run_tokens_job(client, clock) == {"refreshed": 1}

    after = sellers.get(seller_id)
    new_token = access_token(after, now=clock.now())
    assert new_token != old_token
    assert market.auth.session_nick(new_token) == "refresh_shop"
    assert after.token_expires_at == int(clock.now().timestamp()) + SESSION_HOURS * 3600
    assert after.tokens["access"] != before.tokens["access"]
    assert new_token not in json.dumps(after.attribute_values, default=str)
    assert audit.trail(seller_id)[0].action == "oauth.refresh" and audit.trail(seller_id)[0].result == "refreshed"


def test_a_token_far_from_expiry_is_left_alone(client, aws, clock, market):
    seller_id = onboard(client, clock, "fresh_shop")
    blob = sellers.get(seller_id).tokens["access"]
    clock.advance((SESSION_HOURS - 3) * 3600 - 60)
    assert run_tokens_job(client, clock) == {}  # not due: the run never reads it
    assert sellers.get(seller_id).tokens["access"] == blob


def test_a_dead_grant_holds_the_sellers_tasks_until_it_authorizes_again(client, aws, clock, market):
    seller_id = onboard(client, clock, "revoked_shop", mode="delay", delay_hours=8)
    seed_trade(client, clock, market, "revoked_shop", seller_id, "3900000000000101")
    market.revoke("revoked_shop")
    clock.advance((SESSION_HOURS - 2) * 3600)

    assert run_tokens_job(client, clock) == {"reauth": 1}

    seller = sellers.get(seller_id)
    assert seller.status == "reauth"
    task = tasks.get(seller_id, "3900000000000101")
    assert task.state == "held" and task.holds == {"reauth"}
    assert [n.kind for n in outbox.recent(seller_id)] == ["reauth_needed"]
    record = audit.trail(seller_id)[0]
    assert (record.action, record.result, record.detail) == (
        "oauth.refresh",
        "reauth_needed",
        {"why": "invalid_grant", "held_tasks": 1},
    )
    # The next run leaves the seller to re-authorize (it left the token index), and notifies nobody again.
    clock.advance(3600)
    assert run_tokens_job(client, clock) == {}
    assert len(outbox.recent(seller_id)) == 1

    # Authorizing again releases the held task; it is posted when due, with the new token.
    assert json_body(oauth_login(client, "revoked_shop"))["seller_id"] == seller_id
    assert sellers.get(seller_id).status == "active"
    assert tasks.get(seller_id, "3900000000000101").state == "scheduled"
    clock.advance(4 * 3600)  # the trade's delay of 8 hours is over
    run_sweep_and_worker(client, aws, clock)
    assert tasks.get(seller_id, "3900000000000101").state == "posted"
    assert market.post_counts(3900000000000101) == 1


def test_a_grant_that_cannot_be_refreshed_means_reauth(client, aws, clock, market):
    market.add_seller("one_off_shop", refreshable=False)
    seller_id = onboard(client, clock, "one_off_shop")
    assert sellers.get(seller_id).refresh_expires_at is None
    clock.advance((SESSION_HOURS - 1) * 3600)
    assert run_tokens_job(client, clock) == {"reauth": 1}
    assert sellers.get(seller_id).status == "reauth"
    assert audit.trail(seller_id)[0].detail["why"] == "not_refreshable"


def test_an_unreachable_marketplace_defers_to_the_next_hour(client, aws, clock, market, monkeypatch):
    seller_id = onboard(client, clock, "patient_shop")
    blob = sellers.get(seller_id).tokens["access"]
    clock.advance((SESSION_HOURS - 2) * 3600)
    monkeypatch.setenv("HAOPING_MARKETPLACE_URL", "http://127.0.0.1:9")
    rebind_app()
    assert run_tokens_job(client, clock) == {"deferred": 1}
    seller = sellers.get(seller_id)
    assert seller.status == "active" and seller.tokens["access"] == blob

    monkeypatch.setenv("HAOPING_MARKETPLACE_URL", market.base_url)
    rebind_app()
    clock.advance(3600)
    assert run_tokens_job(client, clock) == {"refreshed": 1}


def test_tasks_the_worker_held_on_an_expired_token_go_again_after_the_refresh(client, aws, clock, market, monkeypatch):
    seller_id = onboard(client, clock, "late_shop", mode="delay", delay_hours=SESSION_HOURS + 1)
    seed_trade(client, clock, market, "late_shop", seller_id, "3900000000000102")
    monkeypatch.setenv("HAOPING_MARKETPLACE_URL", "http://127.0.0.1:9")
    rebind_app()
    clock.advance((SESSION_HOURS + 1) * 3600)
    run_tokens_job(client, clock)
    run_sweep_and_worker(client, aws, clock)  # the token expired an hour ago: no session to post with
    assert tasks.get(seller_id, "3900000000000102").holds == {"reauth"}
    assert sellers.get(seller_id).status == "active"

    monkeypatch.setenv("HAOPING_MARKETPLACE_URL", market.base_url)
    rebind_app()
    clock.advance(3600)  # the next hourly run
    assert run_tokens_job(client, clock) == {"refreshed": 1}
    assert tasks.get(seller_id, "3900000000000102").state == "scheduled"
    clock.advance(60)
    run_sweep_and_worker(client, aws, clock)
    assert tasks.get(seller_id, "3900000000000102").state == "posted"


def test_one_sellers_dead_grant_does_not_stop_the_others(client, aws, clock, market):
    healthy = onboard(client, clock, "healthy_shop")
    revoked = onboard(client, clock, "gone_shop")
    market.revoke("gone_shop")
    clock.advance((SESSION_HOURS - 1) * 3600)
    assert run_tokens_job(client, clock) == {"reauth": 1, "refreshed": 1}
    assert sellers.get(healthy).status == "active"
    assert sellers.get(revoked).status == "reauth"

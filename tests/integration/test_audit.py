"""The audit trail: every marketplace write and every operator-like action is appended, with a TTL and without
secrets, and the app has no way to overwrite a record (every write of it is a conditional put)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pynamodb.exceptions import PutError

from chalicelib.domain.task_state import Event
from chalicelib.services.sellers.seller_tokens import access_token, refresh_token
from chalicelib.store import audit, control, sellers, tasks
from chalicelib.store.models import Audit
from sandbox.lambda_driver import scheduled_event, sqs_event
from sandbox.stack import rebind_app
from tests.helpers import APP_SECRET, add_market_trade, json_body, oauth_login, push, run_job, set_seller, trade_message

RETENTION = timedelta(days=400)


@pytest.fixture
def app(market, client, monkeypatch):
    monkeypatch.setenv("HAOPING_PUBLIC_URL", "https://haoping.test")
    rebind_app()
    return client


def subscribe(seller_id: str, now, **settings) -> None:
    paid_until = int((now + timedelta(days=30)).timestamp())
    set_seller(seller_id, now, settings=settings, plan="FW_GOODS-1000000-2", paid_until=paid_until)


def trade(client, clock, market, nick: str, seller_id: str, tid: int) -> None:
    add_market_trade(market, clock, str(tid), seller_nick=nick)
    push(client, [trade_message(seller_id, str(tid), clock.now(), seller_nick=nick)], clock.now())


def work(client, aws, clock) -> None:
    clock.advance(60)
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    if got:
        client.lambda_.invoke("worker", sqs_event(got, aws["queue_url"]))


def test_an_audit_record_cannot_be_overwritten(aws, clock, monkeypatch):
    first = audit.append(
        "2200000001", actor="worker", action="a", target="1", result="posted", detail=None, now=clock.now()
    )
    # Force the next record onto the same key, as a clash of the random suffix would.
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(first.ts_id.rsplit("#", 1)[1].ljust(32, "0")))
    with pytest.raises(PutError) as refused:
        audit.append("2200000001", actor="x", action="a", target="1", result="forged", detail=None, now=clock.now())
    assert refused.value.cause_response_code == "ConditionalCheckFailedException"
    [stored] = list(Audit.query("2200000001"))
    assert (stored.ts_id, stored.actor, stored.result) == (first.ts_id, "worker", "posted")


def test_the_record_written_with_a_transition_cannot_overwrite_either(app, aws, clock, market):
    seller_id = json_body(oauth_login(app, "audit_shop"))["seller_id"]
    subscribe(seller_id, clock.now(), mode="delay", delay_hours=1)
    trade(app, clock, market, "audit_shop", seller_id, 3900000000000401)
    existing = next(r for r in audit.trail(seller_id) if r.action == "seller.onboard")
    clash = audit.new_record(
        seller_id, actor="worker", action="x", target="3900000000000401", result="forged", detail=None, now=clock.now()
    )
    clash.ts_id = existing.ts_id
    moved = tasks.transition(
        seller_id, "3900000000000401", Event.HOLD, now=clock.now(), shards=4, reason="refund", audit=clash
    )
    assert moved is None  # the whole transaction was refused
    assert tasks.get(seller_id, "3900000000000401").state == "scheduled"
    [stored] = [r for r in audit.trail(seller_id) if r.ts_id == existing.ts_id]
    assert (stored.action, stored.result) == (existing.action, existing.result)
    assert "forged" not in {r.result for r in audit.trail(seller_id)}


def test_every_marketplace_write_is_appended_with_a_ttl(app, aws, clock, market):
    seller_id = json_body(oauth_login(app, "audit_shop"))["seller_id"]
    subscribe(seller_id, clock.now())
    trade(app, clock, market, "audit_shop", seller_id, 3900000000000411)
    work(app, aws, clock)  # posted
    market.faults.set("taobao.traderate.add", error_rate=1.0, error_code=15, error_sub_code="isv.item-not-rateable")
    trade(app, clock, market, "audit_shop", seller_id, 3900000000000412)
    work(app, aws, clock)  # refused by the marketplace
    market.faults.clear()
    control.set_dry_run_seller(seller_id, True, now=clock.now())
    trade(app, clock, market, "audit_shop", seller_id, 3900000000000413)
    work(app, aws, clock)  # dry run

    writes = {
        r.target: r
        for r in Audit.query(seller_id)
        if r.action == "taobao.traderate.add"  # one record per write decision
    }
    assert {tid: r.result for tid, r in writes.items()} == {
        "3900000000000411": "posted",
        "3900000000000412": "isv.item-not-rateable",
        "3900000000000413": "dry_run",
    }
    for record in Audit.query(seller_id):
        assert record.actor and record.action and record.result
        written = datetime.strptime(record.ts_id.split("#")[0], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
        assert abs((record.expire_at - (written + RETENTION)).total_seconds()) < 1


def test_no_audit_record_holds_a_secret_or_a_buyer_identity(app, aws, clock, market):
    seller_id = json_body(oauth_login(app, "audit_shop"))["seller_id"]
    subscribe(seller_id, clock.now())
    seller = sellers.get(seller_id)
    secrets = {
        "access token": access_token(seller, now=clock.now()),
        "refresh token": refresh_token(seller, now=clock.now()),
        "app secret": APP_SECRET,
        "session secret": "session-secret-for-tests",
        "buyer hash secret": "buyer-hash-secret-for-tests",
        "buyer nick": "tb_buyer_77",
        "buyer open uid": "AAH3900000000000421",
    }
    trade(app, clock, market, "audit_shop", seller_id, 3900000000000421)
    work(app, aws, clock)
    control.set_dry_run_seller(seller_id, True, now=clock.now())
    trade(app, clock, market, "audit_shop", seller_id, 3900000000000422)
    work(app, aws, clock)
    clock.advance(40 * 86400 - 2 * 3600)  # the token expires within the refresh margin; the grant is too old
    run_job(app, "tokens", clock.now())

    trail = json.dumps([r.attribute_values for r in Audit.query(seller_id)], default=str, ensure_ascii=False)
    assert {"seller.onboard", "taobao.traderate.add", "oauth.refresh"} <= {r.action for r in Audit.query(seller_id)}
    assert all(value for value in secrets.values())
    assert [name for name, value in secrets.items() if value in trail] == []

"""A seller's messages reach the app only after ``taobao.tmc.user.permit``: installing permits them, a failed permit
is tried again until it holds, leaving (the purge) cancels them, and the sandbox pushes nothing for a seller the app
never permitted, as the platform does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.marketplace import topics
from chalicelib.marketplace.errors import TopCode
from chalicelib.marketplace.messages import build_message
from chalicelib.services.billing import billing_daily
from chalicelib.services.billing.apply_billing_order import current_entitlement
from chalicelib.services.jobs.reconcile_seller import reconcile_seller
from chalicelib.services.onboarding.message_permits import CancelDeferred
from chalicelib.services.rules import rules_in_force
from chalicelib.store import audit, sellers, tasks
from sandbox.market.publisher import NOTHING_SENT
from tests.helpers import (
    json_body,
    make_seller,
    oauth_login,
    push,
    trade_message,
    work_install_queues,
    work_reconcile_queue,
)

PERMIT = "taobao.tmc.user.permit"
CANCEL = "taobao.tmc.user.cancel"


def _trade_on_market(market, clock, nick: str, tid: int) -> None:
    market.add_trade(
        nick,
        tid=tid,
        oid=tid + 1,
        buyer_nick="tb_buyer_3",
        buyer_open_uid=f"AAH{tid}",
        payment="19.90",
        item_title="帆布包",
        created=clock.now() - timedelta(days=2),
        end_time=clock.now(),
    )


def _push_through_the_market(client, market, seller_id: str, nick: str, tid: int, now):
    """The marketplace's own push channel, aimed at the app through chalice's test client."""
    publisher = market.publisher("http://app.test")
    message = trade_message(seller_id, str(tid), now, seller_nick=nick)
    message["user_nick"] = nick
    kept = publisher.deliverable([message])
    if not kept:
        return NOTHING_SENT, publisher.withheld
    return push(client, kept, now).status_code, publisher.withheld


def test_an_installed_sellers_messages_are_pushed_and_a_strangers_are_not(client, aws, clock, market):
    seller_id = json_body(oauth_login(client, "permit_shop"))["seller_id"]
    assert not market.permitted("permit_shop")  # the callback only queues the permit
    work_reconcile_queue(client)
    assert market.permitted("permit_shop") and sellers.get(seller_id).messages_permitted is True
    _trade_on_market(market, clock, "permit_shop", 3900000000002001)
    assert _push_through_the_market(client, market, seller_id, "permit_shop", 3900000000002001, clock.now()) == (
        200,
        0,
    )
    assert tasks.get(seller_id, "3900000000002001") is not None

    # A shop known to the app but never permitted (an app that forgot the permit) gets nothing at all.
    stranger = market.add_seller("forgotten_shop")
    forgotten = make_seller(clock.now(), user_id=stranger.user_id, nick="forgotten_shop")
    _trade_on_market(market, clock, "forgotten_shop", 3900000000002003)
    sent = _push_through_the_market(client, market, forgotten, "forgotten_shop", 3900000000002003, clock.now())
    assert sent == (NOTHING_SENT, 1)
    assert tasks.get(forgotten, "3900000000002003") is None


def test_service_market_messages_need_no_permit(market, clock):
    order = market.sell_subscription(
        "new_shop", "FW_GOODS-1000000-1", 1, clock.now(), clock.now() + timedelta(days=30), 1500
    )
    message = build_message(
        topics.ORDER_PAID, order, msg_id="o1", pub_time=clock.now(), user_id="2200000099", user_nick="new_shop"
    )
    assert market.deliverable(message) is True


def test_a_failed_permit_is_tried_again_by_the_daily_reconcile(client, aws, clock, market):
    market.faults.set(PERMIT, error_rate=1.0, error_code=TopCode.SERVICE_UNAVAILABLE)
    seller_id = json_body(oauth_login(client, "unlucky_shop"))["seller_id"]
    work_install_queues(client)  # the queued permit, and the install backfill's last try at its end
    assert not market.permitted("unlucky_shop") and sellers.get(seller_id).messages_permitted is False
    assert {a.result for a in audit.trail(seller_id) if a.action == PERMIT} == {"failed"}

    market.faults.clear()
    clock.advance(86400)
    reconcile_seller(seller_id, now=clock.now())

    assert market.permitted("unlucky_shop") and sellers.get(seller_id).messages_permitted is True
    asked = market.calls[PERMIT]
    reconcile_seller(seller_id, now=clock.now())
    assert market.calls[PERMIT] == asked  # once permitted, never asked again


def _purge(seller_id: str, nick: str, now) -> None:
    ent = current_entitlement(seller_id, nick, now=now)
    billing_daily.purge(seller_id, ent, now=now, rules=rules_in_force())


def test_the_purge_cancels_the_sellers_messages(client, aws, clock, market):
    seller_id = json_body(oauth_login(client, "leaving_shop"))["seller_id"]
    work_reconcile_queue(client)
    assert market.permitted("leaving_shop")

    _purge(seller_id, "leaving_shop", clock.now())

    assert not market.permitted("leaving_shop") and market.calls[CANCEL] == 1
    seller = sellers.get(seller_id)
    assert seller.status == "purged" and seller.messages_permitted is False


def test_no_seller_is_purged_while_its_messages_cannot_be_cancelled(client, aws, clock, market):
    seller_id = json_body(oauth_login(client, "stuck_shop"))["seller_id"]
    work_reconcile_queue(client)
    market.faults.set(CANCEL, error_rate=1.0, error_code=TopCode.SERVICE_UNAVAILABLE)

    with pytest.raises(CancelDeferred):
        _purge(seller_id, "stuck_shop", clock.now())

    assert sellers.get(seller_id).status != "purged" and market.permitted("stuck_shop")
    market.faults.clear()
    _purge(seller_id, "stuck_shop", clock.now())  # the next daily pass
    assert sellers.get(seller_id).status == "purged" and not market.permitted("stuck_shop")


def test_cancelling_a_seller_never_permitted_is_not_an_error(client, aws, clock, market):
    account = market.add_seller("never_permitted")
    seller_id = make_seller(clock.now(), user_id=account.user_id, nick="never_permitted")
    _purge(seller_id, "never_permitted", clock.now())
    assert sellers.get(seller_id).status == "purged"


def test_a_permit_job_waits_out_a_quota_ban_in_the_queue(client, aws, clock, market):
    from chalicelib.store import control

    control.pause_until(clock.now() + timedelta(minutes=10), now=clock.now())
    seller_id = json_body(oauth_login(client, "patient_shop"))["seller_id"]
    work_reconcile_queue(client)  # the permit job fails its delivery: no call spends the banned quota
    assert market.calls[PERMIT] == 0 and not sellers.get(seller_id).messages_permitted

    clock.advance(11 * 60)
    work_reconcile_queue(client)  # delivered again after the ban
    assert market.permitted("patient_shop") and sellers.get(seller_id).messages_permitted is True

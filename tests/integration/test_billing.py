"""Billing end to end on moto and the sandbox market: signed order pushes, entitlement on the seller, and what
follows from it (holds, releases, reminders, purge), daily reconciliation, and refused messages kept."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib.marketplace import topics
from chalicelib.marketplace.billing_topics import parse_order
from chalicelib.marketplace.messages import build_message, encode_batch
from chalicelib.store import audit, blacklist, orders, outbox, sellers, tasks
from chalicelib.store.models import Order, Rejected
from sandbox.lambda_driver import scheduled_event, sqs_event
from tests.helpers import json_body, make_seller, market_ts, push, run_job, signed_path, trade_message

ARTICLE = "FW_GOODS-1000000"
BASIC, PRO = "FW_GOODS-1000000-1", "FW_GOODS-1000000-2"
DAY = timedelta(days=1)
_ids = itertools.count(1)


def content(order_id, nick, start, end, *, item=BASIC, biz=1, fee=1500, refund=0, create=None, **extra) -> dict:
    """Order message content with the fields of taobao.vas.order.search."""
    return {
        "order_id": str(order_id),
        "biz_order_id": str(8_000_000_000 + int(order_id)),
        "nick": nick,
        "article_code": ARTICLE,
        "item_code": item,
        "biz_type": biz,
        "order_cycle": "2",
        "order_cycle_start": market_ts(start),
        "order_cycle_end": market_ts(end),
        "create": market_ts(create or start),
        "total_pay_fee": fee,
        "refund_fee": refund,
        **extra,
    }


def message(body: dict, now: datetime, *, topic=topics.ORDER_PAID, msg_id=None) -> dict:
    return build_message(
        topic, body, msg_id=msg_id or f"b{next(_ids)}", pub_time=now, user_id=None, user_nick=body.get("nick")
    )


def push_orders(client, now, *bodies, topic=topics.ORDER_PAID) -> list[dict]:
    response = push(client, [message(b, now, topic=topic) for b in bodies], now, path="/webhooks/billing")
    assert response.status_code == 200, response.body
    return json_body(response)["results"]


def new_seller(clock, nick: str, **settings) -> str:
    """An authorized seller without any paid period yet."""
    user_id = str(2_300_000_000 + next(_ids))
    return make_seller(clock.now(), user_id=user_id, nick=nick, plan=None, paid_days=0, settings=settings or None)


def daily(client, clock, *, later: timedelta = timedelta(0)) -> dict:
    """The daily pass (fired ``later`` than now): its schedule, then the billing queue's worker; what it did,
    summed over its sellers."""
    return run_job(client, "billing", clock.now() + later)


def sweep_and_work(client, aws, clock) -> int:
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    if got:
        client.lambda_.invoke("worker", sqs_event(got, aws["queue_url"]))
        aws["sqs"].delete_message_batch(
            QueueUrl=aws["queue_url"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    return len(got)


def sell(market, client, clock, nick, start, end, *, item=BASIC, biz=1, fee=1500, deliver=True) -> dict:
    """The seller buys on the sandbox market; the market's callback is pushed unless it is lost."""
    order = market.sell_subscription(nick, item, biz, start, end, fee)
    if deliver:
        assert push_orders(client, clock.now(), order)[0]["status"] == "ok"
    return order


def entitlement_of(seller_id: str) -> tuple:
    seller = sellers.get(seller_id)
    return seller.paid_until, seller.plan, seller.status


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


# -- orders and entitlement --------------------------------------------------------------------------------------
def test_a_paid_order_entitles_its_seller_and_a_duplicate_changes_nothing(client, aws, clock):
    now = clock.now()
    seller_id = new_seller(clock, "shop_a")
    order = content(1001, "shop_a", now - DAY, now + 30 * DAY)

    assert [r["status"] for r in push_orders(client, now, order)] == ["ok"]
    assert entitlement_of(seller_id) == (epoch(now + 30 * DAY), BASIC, "active")
    first = Order.get(seller_id, "1001")

    again = push_orders(client, now + timedelta(minutes=5), order)
    assert again[0]["status"] == "duplicate"
    assert entitlement_of(seller_id) == (epoch(now + 30 * DAY), BASIC, "active")
    assert [o.order_id for o in Order.query(seller_id)] == ["1001"]
    assert Order.get(seller_id, "1001").received_at == first.received_at


def test_a_stored_order_keeps_its_item_shape_and_reads_back_as_it_was_judged(client, aws, clock):
    now = clock.now().replace(microsecond=0)
    seller_id = new_seller(clock, "shop_shape")
    order = content(1002, "shop_shape", now - DAY, now + 30 * DAY, refund=300)

    push_orders(client, now, order)
    push_orders(client, now, order, topic=topics.ORDER_CLOSED)

    assert Order.get(seller_id, "1002", consistent_read=True).serialize() == {
        "seller_id": {"S": seller_id},
        "order_id": {"S": "1002"},
        "biz_order_id": {"S": "8000001002"},
        "nick": {"S": "shop_shape"},
        "article_code": {"S": ARTICLE},
        "item_code": {"S": BASIC},
        "biz_type": {"N": "1"},
        "cycle_start": {"N": str(epoch(now - DAY))},
        "cycle_end": {"N": str(epoch(now + 30 * DAY))},
        "total_pay_fee": {"N": "1500"},
        "refund_fee": {"N": "300"},
        "closed": {"BOOL": True},
        "created": {"N": str(epoch(now - DAY))},
        "received_at": {"N": str(epoch(now))},
    }
    (read,) = orders.of_seller(seller_id)
    assert read == parse_order({**order, "refund_fee": 300}, article_code=ARTICLE, closed=True)


def _orders_of_a_year(nick: str, t0: datetime) -> list[tuple[str, dict]]:
    """New, renew, upgrade mid-cycle, gift, and refund notices (partial, then full) for the renewal."""
    renew = content(2002, nick, t0 + 30 * DAY, t0 + 60 * DAY, biz=2, create=t0 + 20 * DAY)
    return [
        (topics.ORDER_PAID, content(2001, nick, t0 - 10 * DAY, t0 + 30 * DAY)),
        (topics.ORDER_PAID, renew),
        (topics.ORDER_PAID, content(2003, nick, t0 - 5 * DAY, t0 + 30 * DAY, item=PRO, biz=3, fee=900)),
        (topics.ORDER_PAID, content(2004, nick, t0 + 60 * DAY, t0 + 67 * DAY, biz=4, fee=0)),
        (topics.ORDER_CLOSED, {**renew, "refund_fee": 500}),
        (topics.ORDER_CLOSED, {**renew, "refund_fee": 1500}),
    ]


# Each example is a few pushes through moto: few examples, and no shrinking (a failure prints its example).
@hsettings(
    max_examples=6,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(order=st.permutations(range(6)), repeats=st.lists(st.integers(0, 5), max_size=3))
def test_delivery_order_and_duplicates_give_the_same_entitlement(client, aws, clock, order, repeats):
    now = clock.now()
    nick = f"perm_{next(_ids)}"
    seller_id = new_seller(clock, nick)
    year = _orders_of_a_year(nick, now)
    for index in [*order, *repeats]:
        topic, body = year[index]
        push_orders(client, now, body, topic=topic)
    # The renewal was refunded in full (the larger refund stands whatever came last); the gift starts only
    # after a gap, so the seller is paid until the first cycle's end, on the upgraded plan.
    assert entitlement_of(seller_id) == (epoch(now + 30 * DAY), PRO, "active")
    assert Order.get(seller_id, "2002").refund_fee == 1500


def test_a_closed_order_that_was_never_paid_grants_nothing(client, aws, clock):
    now = clock.now()
    seller_id = new_seller(clock, "shop_unpaid")
    unpaid = content(3001, "shop_unpaid", now, now + 30 * DAY)
    push_orders(client, now, unpaid, topic=topics.ORDER_CLOSED)
    push_orders(client, now, unpaid)  # a late "paid" copy cannot reopen it
    assert entitlement_of(seller_id) == (None, None, "active")


def test_an_order_for_an_unknown_nick_waits_until_the_seller_authorizes(client, aws, clock):
    from chalicelib.services.billing.apply_billing_order import settle

    now = clock.now()
    push_orders(client, now, content(4001, "early_buyer", now, now + 30 * DAY))
    assert [o.order_id for o in Order.query("nick:early_buyer")] == ["4001"]

    seller_id = new_seller(clock, "early_buyer")
    settle(seller_id, now=clock.now())  # what onboarding does for a new seller
    assert entitlement_of(seller_id)[:2] == (epoch(now + 30 * DAY), BASIC)
    assert list(Order.query("nick:early_buyer")) == []
    assert [o.order_id for o in Order.query(seller_id)] == ["4001"]


# -- consequences ------------------------------------------------------------------------------------------------
def _trade(client, market, clock, seller_id, nick, tid):
    market.add_trade(
        nick,
        tid=int(tid),
        oid=int(tid) + 1,
        buyer_nick="tb_buyer_77",
        buyer_open_uid=f"AAH{tid}",
        payment="59.00",
        item_title="保温杯",
        created=clock.now() - 3 * DAY,
        end_time=clock.now(),
    )
    msg = trade_message(seller_id, tid, clock.now(), seller_nick=nick)
    assert json_body(push(client, [msg], clock.now()))["results"][0]["status"] == "ok"


def test_lapse_holds_tasks_and_a_renewal_inside_the_window_resumes_them(client, aws, clock, market):
    now = clock.now()
    account = market.add_seller("lapsing_shop")
    seller_id = make_seller(
        now,
        user_id=account.user_id,
        nick="lapsing_shop",
        access_token=account.access_token,
        plan=None,
        paid_days=0,
        settings={"mode": "delay", "delay_hours": 72},
    )
    sell(market, client, clock, "lapsing_shop", now - 20 * DAY, now + 2 * DAY)
    _trade(client, market, clock, seller_id, "lapsing_shop", "3900000000000101")
    assert tasks.get(seller_id, "3900000000000101").state == "scheduled"

    clock.advance((2 * DAY + timedelta(hours=1)).total_seconds())
    result = daily(client, clock)
    assert result["held"] == 1
    task = tasks.get(seller_id, "3900000000000101")
    assert (task.state, task.reason) == ("held", "plan_expired")
    assert sellers.get(seller_id).status == "lapsed"

    clock.advance((2 * DAY).total_seconds())  # past the planned posting time: nothing may be posted
    sweep_and_work(client, aws, clock)
    assert market.post_counts(3900000000000101) == 0

    sell(market, client, clock, "lapsing_shop", clock.now(), clock.now() + 30 * DAY, biz=2)
    assert tasks.get(seller_id, "3900000000000101").state == "scheduled"
    assert entitlement_of(seller_id)[2] == "active"
    assert sweep_and_work(client, aws, clock) == 1
    assert market.post_counts(3900000000000101) == 1
    assert tasks.get(seller_id, "3900000000000101").state == "posted"


def test_a_renewal_after_the_window_closed_expires_the_held_task(client, aws, clock, market):
    now = clock.now()
    account = market.add_seller("late_shop")
    seller_id = make_seller(
        now, user_id=account.user_id, nick="late_shop", access_token=account.access_token, plan=None, paid_days=0
    )
    sell(market, client, clock, "late_shop", now - 20 * DAY, now + timedelta(minutes=1))
    clock.advance(120)
    _trade(client, market, clock, seller_id, "late_shop", "3900000000000201")
    assert tasks.get(seller_id, "3900000000000201").state == "held"  # created held: not entitled

    clock.advance((16 * DAY).total_seconds())
    sell(market, client, clock, "late_shop", clock.now(), clock.now() + 30 * DAY, biz=2)
    task = tasks.get(seller_id, "3900000000000201")
    assert (task.state, task.reason) == ("expired", "window_closed")
    assert market.post_counts(3900000000000201) == 0


def test_expiry_reminders_go_out_once_each_at_7_3_and_1_days(client, aws, clock, market):
    now = clock.now()
    seller_id = new_seller(clock, "remind_shop")
    sell(market, client, clock, "remind_shop", now - 20 * DAY, now + 8 * DAY + timedelta(hours=12))
    sent_per_day = []
    for _ in range(9):
        clock.advance(DAY.total_seconds())
        sent_per_day.append(daily(client, clock)["reminders"])
        assert daily(client, clock, later=timedelta(hours=1))["reminders"] == 0  # another run that day: nothing
    reminders = [n for n in outbox.recent(seller_id) if n.kind == "plan_expiring"]
    assert sorted(n.detail["days"] for n in reminders) == [1, 3, 7]
    assert sum(sent_per_day) == 3


def test_data_is_purged_after_the_grace_period_and_the_purge_is_audited(client, aws, clock, market):
    now = clock.now()
    account = market.add_seller("leaving_shop")
    seller_id = make_seller(
        now, user_id=account.user_id, nick="leaving_shop", access_token=account.access_token, plan=None, paid_days=0
    )
    sell(market, client, clock, "leaving_shop", now - 20 * DAY, now + DAY)
    _trade(client, market, clock, seller_id, "leaving_shop", "3900000000000301")
    blacklist.add(seller_id, "h" * 64, masked="t***1", reason="manual", now=now)

    clock.advance((DAY + 29 * DAY).total_seconds())
    assert daily(client, clock)["purged"] == 0
    assert sellers.get(seller_id).tokens

    clock.advance((2 * DAY).total_seconds())
    assert daily(client, clock)["purged"] == 1
    seller = sellers.get(seller_id)
    assert (seller.status, seller.tokens, seller.token_expires_at) == ("purged", None, None)
    assert tasks.get(seller_id, "3900000000000301") is None
    assert blacklist.entries(seller_id)[0] == []
    record = next(r for r in audit.trail(seller_id) if r.action == "seller.purge")
    assert (record.actor, record.result, record.detail["tasks"], record.detail["blacklist"]) == (
        "billing",
        "purged",
        1,
        1,
    )
    assert daily(client, clock, later=DAY)["purged"] == 0  # once: the next day's run no longer sees it


# -- reconciliation ---------------------------------------------------------------------------------------------
def test_reconciliation_recovers_a_lost_callback(client, aws, clock, market):
    now = clock.now()
    seller_id = new_seller(clock, "lost_shop")
    lost = sell(market, client, clock, "lost_shop", now, now + 30 * DAY, deliver=False)
    assert entitlement_of(seller_id)[0] is None

    clock.advance(3600)
    result = daily(client, clock)
    assert result["recovered"] == 1 and result["disagreements"] == 0
    assert entitlement_of(seller_id)[:2] == (epoch(now + 30 * DAY), BASIC)
    assert Order.get(seller_id, str(lost["order_id"])).refund_fee == 0


def test_an_old_lost_renewal_is_found_through_the_sellers_subscription(client, aws, clock, market):
    now = clock.now()
    seller_id = new_seller(clock, "old_lost_shop")
    sell(market, client, clock, "old_lost_shop", now - 25 * DAY, now + 5 * DAY)
    created = now - 10 * DAY  # older than the daily search looks back
    market.add_order(
        nick="old_lost_shop",
        item_code=BASIC,
        biz_type=2,
        order_cycle_start=now + 5 * DAY,
        order_cycle_end=now + 35 * DAY,
        total_pay_fee=1500,
        create=created,
    )
    result = daily(client, clock)
    assert (result["recovered"], result["disagreements"], result["reminders"]) == (1, 0, 0)
    assert entitlement_of(seller_id)[0] == epoch(now + 35 * DAY)


def test_a_disagreement_with_the_market_is_logged_counted_and_audited(client, aws, clock, market):
    now = clock.now()
    seller_id = new_seller(clock, "odd_shop")
    # The app was told of an order the market does not know.
    push_orders(client, now, content(5001, "odd_shop", now - 20 * DAY, now + 3 * DAY))
    result = daily(client, clock)
    assert result["disagreements"] == 1
    record = next(r for r in audit.trail(seller_id) if r.action == "billing.reconcile")
    assert record.result == "disagreement"
    assert record.detail == {"market_deadline": None, "our_deadline": market_ts(now + 3 * DAY)}
    assert entitlement_of(seller_id)[0] == epoch(now + 3 * DAY)  # reported, not silently changed


# -- what is refused ---------------------------------------------------------------------------------------------
def test_malformed_billing_messages_are_rejected_with_a_reason_and_kept(client, aws, clock):
    now = clock.now()
    seller_id = new_seller(clock, "picky_shop")
    good = content(6001, "picky_shop", now, now + 30 * DAY)
    bad = {
        "wrong_article": {**good, "order_id": "6002", "article_code": "FW_GOODS-9999999"},
        "bad_date": {**good, "order_id": "6003", "order_cycle_end": "2026-13-40 25:00:00"},
        "negative_fee": {**good, "order_id": "6004", "total_pay_fee": -1500},
        "refund_over_paid": {**good, "order_id": "6005", "refund_fee": 99999},
    }
    msgs = [message(body, now, msg_id=name) for name, body in bad.items()]
    msgs.append({**message(good, now, msg_id="not_json"), "content": "{not json"})
    msgs.append(message(good, now, msg_id="good"))
    msgs.append(message(good, now, msg_id="created", topic="taobao_fuwu_OrderCreated"))
    results = {r["id"]: r for r in json_body(push(client, msgs, now, path="/webhooks/billing"))["results"]}

    assert (results["good"]["status"], results["created"]["status"]) == ("ok", "ignored")
    assert {name: r["status"] for name, r in results.items() if name not in ("good", "created")} == dict.fromkeys(
        [*bad, "not_json"], "rejected"
    )
    assert "article_code" in results["wrong_article"]["detail"]
    assert "order_cycle_end" in results["bad_date"]["detail"] and "2026-13-40" not in results["bad_date"]["detail"]
    assert "total_pay_fee" in results["negative_fee"]["detail"]
    assert "refund_fee" in results["refund_over_paid"]["detail"]
    kept = {json.loads(json.dumps(r.message))["id"]: r.reason for r in Rejected.query("billing")}
    assert kept == {name: results[name]["detail"] for name in [*bad, "not_json"]}
    assert [o.order_id for o in Order.query(seller_id)] == ["6001"]


def test_an_authentic_but_unparseable_batch_is_refused_and_kept(client, aws, clock):
    body = b'{"messages": [{"id": "x1", "topic": '
    response = client.http.post(
        signed_path("/webhooks/billing", body, clock.now()), headers={"Content-Type": "application/json"}, body=body
    )
    assert response.status_code == 400
    (kept,) = list(Rejected.query("billing"))
    assert kept.message["raw"] == body.decode() and kept.reason == json_body(response)["error"]["message"]


def test_an_unsigned_billing_push_is_refused_and_nothing_is_stored(client, aws, clock):
    now = clock.now()
    body = encode_batch([message(content(7001, "anyone", now, now + 30 * DAY), now)])
    response = client.http.post("/webhooks/billing", headers={"Content-Type": "application/json"}, body=body)
    assert response.status_code == 401
    assert list(Order.query("nick:anyone")) == [] and list(Rejected.query("billing")) == []


# -- plans -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("plan", "due_after"), [(BASIC, timedelta(0)), (PRO, timedelta(days=15, hours=-12))])
def test_a_mode_the_plan_lacks_is_not_used_for_scheduling(client, aws, clock, plan, due_after):
    now = clock.now()
    nick = f"mode_shop_{next(_ids)}"
    # after_buyer was chosen on a plan that had it; the seller is now on ``plan``.
    seller_id = new_seller(clock, nick, mode="after_buyer")
    push_orders(client, now, content(next(_ids) + 8000, nick, now - DAY, now + 30 * DAY, item=plan))
    msg = trade_message(seller_id, "3900000000000401", now, seller_nick=nick)
    assert json_body(push(client, [msg], now))["results"][0]["status"] == "ok"
    task = tasks.get(seller_id, "3900000000000401")
    assert datetime.fromtimestamp(task.due_at, UTC) - tasks.trade_end_of(task) == due_after

"""差评师预警 through the app's entry points: shops confirm a suspected extortion rating with one click (or blacklist
with the reason extortion); a buyer is flagged only once enough distinct paying shops did; a warned shop hears of it
when the buyer pays (an alert, and the blacklist or a memo flag written through the write guard); nothing any route,
alert, log line or export says reveals a contributing shop, a count below the threshold or a buyer's identity; the
operator removes a flag on appeal, audited."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import timedelta

import pytest

from chalicelib.container import container
from chalicelib.domain.entitlement import BIZ_NEW, BillingOrder
from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import build_message
from chalicelib.ops.cli import main as ops_main
from chalicelib.security.buyer_id import buyer_keys, shop_key
from chalicelib.store import audit, blacklist, orders, outbox, signals
from chalicelib.store.models import Signal
from sandbox.run import app_output_to
from tests.helpers import json_body, make_seller, push, set_seller, topic_message, trade_message, work_review_queue
from tests.integration.test_seller_api import call, session

PRESSURE = "不给我返现二十块就给差评"
BUYER, BUYER_UID = "tb_pressure_9", "AAHpressure9"
WARNING = "订单 {tid}：该买家近 180 天被至少 3 家店铺确认以评价要挟"
MEMO = "taobao.trade.memo.update"


def open_shop(market, clock, n: int, *, fee: int = 1500, **settings) -> str:
    """A shop on the marketplace and in the app, paying ``fee`` for the current month (0: a free trial)."""
    nick = f"shop_{n}"
    account = market.add_seller(nick)
    now = clock.now()
    seller_id = make_seller(
        now, user_id=account.user_id, nick=nick, access_token=account.access_token, settings=settings or None
    )
    order = BillingOrder(
        order_id=f"9000{n}",
        nick=nick,
        article_code="FW_GOODS-1000000",
        item_code="FW_GOODS-1000000-2",
        biz_type=BIZ_NEW,
        cycle_start=now - timedelta(days=10),
        cycle_end=now + timedelta(days=20),
        total_pay_fee=fee,
        refund_fee=0,
        created=now - timedelta(days=10),
    )
    orders.record(seller_id, order, now=now)
    return seller_id


def pressured(client, clock, market, seller_id: str, n: int, tid: str, *, text: str = PRESSURE) -> None:
    """The buyer finishes a trade with shop ``n`` and rates it bad with ``text``; the app triages the words."""
    nick = f"shop_{n}"
    market.add_trade(
        nick,
        tid=int(tid),
        oid=int(tid) + 1,
        buyer_nick=BUYER,
        buyer_open_uid=BUYER_UID,
        payment="59.00",
        item_title="保温杯",
        created=clock.now() - timedelta(days=3),
        end_time=clock.now(),
    )
    finished = trade_message(seller_id, tid, clock.now(), buyer=BUYER, buyer_open_uid=BUYER_UID, seller_nick=nick)
    push(client, [finished], clock.now())
    clock.advance(600)
    market.add_buyer_rate(int(tid), "bad", text)
    rated = topic_message(
        topics.TRADE_RATED, seller_id, tid, clock.now(), msg_id=f"r{tid}", buyer=BUYER, rater="buyer", result="bad"
    )
    assert json_body(push(client, [rated], clock.now()))["results"][0]["status"] == "ok"


def confirm(client, clock, seller_id: str, tid: str):
    return call(client, "POST", f"/api/ratings/{tid}/extortion", session(seller_id, clock.now()))


def paid(client, clock, market, seller_id: str, n: int, tid: str, *, buyer: str = BUYER, uid: str = BUYER_UID):
    """The buyer pays an order of shop ``n``: the trade exists, unshipped, and TradeBuyerPay is pushed."""
    nick = f"shop_{n}"
    market.add_trade(
        nick,
        tid=int(tid),
        oid=int(tid) + 1,
        buyer_nick=buyer,
        buyer_open_uid=uid,
        payment="88.00",
        item_title="帆布包",
        created=clock.now(),
        end_time=None,
        status="WAIT_SELLER_SEND_GOODS",
    )
    content = {
        "tid": tid,
        "oid": str(int(tid) + 1),
        "seller_nick": nick,
        "buyer_nick": buyer,
        "buyer_open_uid": uid,
        "payment": "88.00",
        "status": "TradeBuyerPay",
    }
    message = build_message(
        topics.TRADE_BUYER_PAY, content, msg_id=f"p{tid}", pub_time=clock.now(), user_id=seller_id, user_nick=nick
    )
    answer = json_body(push(client, [message], clock.now()))
    assert answer["results"][0]["status"] == "ok", answer


def warnings_of(seller_id: str) -> list[str]:
    return [n.message for n in outbox.recent(seller_id) if n.kind == "extortion_warning"]


def flagged() -> bool:
    container().forget_caches()
    keys = buyer_keys(container().buyer_hash_secret(), BUYER, BUYER_UID)
    return any(until is not None for until in signals.flags_until(keys).values())


SHARE = {"extortion_contribute": True}


def test_a_buyer_is_flagged_only_when_three_paying_shops_confirmed_and_the_fourth_is_warned_at_payment(
    client, clock, market
):
    contributors = [open_shop(market, clock, n, **SHARE) for n in (1, 2, 3)]
    warned = open_shop(market, clock, 4, extortion_receive=True)
    for n, seller_id in enumerate(contributors, start=1):
        pressured(client, clock, market, seller_id, n, f"390000000000{n}00")

    # The center offers the one click on the flagged rating.
    [rating] = json_body(call(client, "GET", "/api/ratings?days=7", session(contributors[0], clock.now())))["ratings"]
    assert rating["extortion_suspected"] is True and rating["extortion_confirmed"] is False

    answers = []
    for n, seller_id in enumerate(contributors, start=1):
        assert not flagged()  # fewer than three shops: no flag, and nothing says how many
        response = confirm(client, clock, seller_id, f"390000000000{n}00")
        assert response.status_code == 200, response.body
        answers.append(json_body(response))
    assert [a["result"] for a in answers] == ["shared"] * 3
    assert all(set(a) == {"tid", "result"} for a in answers)  # no count, no shop, no buyer in any answer
    assert flagged()
    again = json_body(confirm(client, clock, contributors[0], "390000000000100"))
    assert again["result"] == "already_confirmed"

    paid(client, clock, market, warned, 4, "3900000000000400")
    assert warnings_of(warned) == [WARNING.format(tid="3900000000000400")]
    assert all(warnings_of(c) == [] for c in contributors)
    # A redelivered payment message warns once.
    paid_again = build_message(
        topics.TRADE_BUYER_PAY,
        {"tid": "3900000000000400", "buyer_nick": BUYER, "buyer_open_uid": BUYER_UID},
        msg_id="p-again",
        pub_time=clock.now(),
        user_id=warned,
        user_nick="shop_4",
    )
    push(client, [paid_again], clock.now())
    assert len(warnings_of(warned)) == 1
    # Another buyer paying is no news.
    paid(client, clock, market, warned, 4, "3900000000000401", buyer="tb_fine_buyer", uid="AAHfine")
    assert len(warnings_of(warned)) == 1
    assert market.calls.get(MEMO, 0) == 0  # "alert only" is the default: nothing is written to the order


def test_one_shop_confirming_many_times_flags_nobody_and_trial_shops_or_sharing_off_do_not_count(client, clock, market):
    busy = open_shop(market, clock, 1, **SHARE)
    trial = open_shop(market, clock, 2, fee=0, **SHARE)
    silent = open_shop(market, clock, 3)  # sharing off (the default)
    for i, tid in enumerate(("3900000000001100", "3900000000001101", "3900000000001102")):
        pressured(client, clock, market, busy, 1, tid)
        assert json_body(confirm(client, clock, busy, tid))["result"] == "shared", i
    pressured(client, clock, market, trial, 2, "3900000000001200")
    assert json_body(confirm(client, clock, trial, "3900000000001200"))["result"] == "not_paying"
    pressured(client, clock, market, silent, 3, "3900000000001300")
    assert json_body(confirm(client, clock, silent, "3900000000001300"))["result"] == "sharing_off"
    assert not flagged()
    keys = buyer_keys(container().buyer_hash_secret(), BUYER, BUYER_UID)
    stored = {s.shop for s in signals.signals_of(keys[0])}
    assert stored == {shop_key(container().buyer_hash_secret(), busy)}  # one shop, counted once


def test_a_rating_not_flagged_as_extortion_cannot_be_confirmed_and_another_shops_is_not_found(client, clock, market):
    mine = open_shop(market, clock, 1, **SHARE)
    other = open_shop(market, clock, 2, **SHARE)
    pressured(client, clock, market, mine, 1, "3900000000002100", text="物流太慢了，等了一个星期才到")
    refused = confirm(client, clock, mine, "3900000000002100")
    assert refused.status_code == 409 and json_body(refused)["error"]["code"] == "not_suspected"
    pressured(client, clock, market, other, 2, "3900000000002200")
    assert confirm(client, clock, mine, "3900000000002200").status_code == 404
    assert confirm(client, clock, mine, "not-a-tid!").status_code == 400


def test_confirmations_per_shop_are_rate_limited_per_day(client, clock, market):
    from chalicelib.store import control

    control.write_rules_override(
        {"version": "test-limit", "extortion": {"confirmations_per_shop_per_day": 1}}, now=clock.now()
    )
    container().forget_caches()
    shop = open_shop(market, clock, 1, **SHARE)
    pressured(client, clock, market, shop, 1, "3900000000003100")
    pressured(client, clock, market, shop, 1, "3900000000003101")
    assert json_body(confirm(client, clock, shop, "3900000000003100"))["result"] == "shared"
    assert json_body(confirm(client, clock, shop, "3900000000003101"))["result"] == "daily_limit"


def test_blacklisting_with_the_reason_extortion_contributes_and_a_warned_shop_can_blacklist_automatically(
    client, clock, market
):
    shops = [open_shop(market, clock, n, **SHARE) for n in (1, 2, 3)]
    for seller_id in shops:
        added = call(
            client,
            "POST",
            "/api/blacklist",
            session(seller_id, clock.now()),
            {"nick": BUYER, "reason": "extortion"},
        )
        assert added.status_code == 201, added.body
        assert json_body(added)["entries"][0]["reason"] == "extortion"
    assert flagged()
    warned = open_shop(market, clock, 4, extortion_receive=True, extortion_on_paid="blacklist")
    paid(client, clock, market, warned, 4, "3900000000004400")
    assert len(warnings_of(warned)) == 1
    hashes = blacklist.hashes(warned)
    assert set(buyer_keys(container().buyer_hash_secret(), BUYER, BUYER_UID)) <= hashes
    # The warned shop's own blacklisting never feeds the flag (it is not a confirmation).
    keys = buyer_keys(container().buyer_hash_secret(), BUYER, None)
    assert shop_key(container().buyer_hash_secret(), warned) not in {s.shop for s in signals.signals_of(keys[0])}


def _flag_buyer(client, clock, market) -> None:
    for n in (1, 2, 3):
        seller_id = open_shop(market, clock, n, **SHARE)
        call(
            client,
            "POST",
            "/api/blacklist",
            session(seller_id, clock.now()),
            {"open_uid": BUYER_UID, "reason": "extortion"},
        )
    assert flagged()


@pytest.mark.parametrize(("dry_run", "written"), [(False, True), (True, False)])
def test_a_memo_flag_is_written_through_the_write_guard(client, clock, market, dry_run, written):
    _flag_buyer(client, clock, market)
    warned = open_shop(
        market, clock, 4, extortion_receive=True, extortion_on_paid="memo", extortion_memo_flag=2, dry_run=dry_run
    )
    paid(client, clock, market, warned, 4, "3900000000005400")
    assert market.calls.get(MEMO, 0) == 0  # never inside the push: the worker writes it
    work_review_queue(client)
    memo = market.memo_of(3900000000005400)
    records = [r for r in audit.trail(warned) if r.action == MEMO]
    if written:
        assert memo == ("差评师预警：该买家近 180 天被至少 3 家店铺确认以评价要挟", 2)
        assert [r.result for r in records] == ["posted"]
    else:
        assert memo is None and [r.result for r in records] == ["dry_run"]
    assert market.state._trades[3900000000005400].status == "WAIT_SELLER_SEND_GOODS"  # the order goes on untouched


def test_the_kill_switch_holds_the_memo_back(client, clock, market):
    from chalicelib.store import control

    _flag_buyer(client, clock, market)
    warned = open_shop(market, clock, 4, extortion_receive=True, extortion_on_paid="memo")
    control.set_kill_global(True, now=clock.now())
    container().forget_caches()
    paid(client, clock, market, warned, 4, "3900000000006400")
    work_review_queue(client)
    assert market.memo_of(3900000000006400) is None and market.calls.get(MEMO, 0) == 0


def test_receiving_is_opt_in_and_needs_a_paid_plan(client, clock, market):
    _flag_buyer(client, clock, market)
    off = open_shop(market, clock, 4)
    lapsed = open_shop(market, clock, 5, extortion_receive=True)
    set_seller(lapsed, clock.now(), paid_until=int((clock.now() - timedelta(days=1)).timestamp()))
    paid(client, clock, market, off, 4, "3900000000007400")
    paid(client, clock, market, lapsed, 5, "3900000000007500")
    assert warnings_of(off) == [] and warnings_of(lapsed) == []


def test_the_operator_removes_a_flag_on_appeal_audited(client, clock, market, capsys):
    _flag_buyer(client, clock, market)
    assert ops_main(["--user", "ops1", "extortion-clear", "--open-uid", BUYER_UID]) == 0
    out = capsys.readouterr().out
    assert BUYER_UID not in out
    assert not flagged()
    [record] = [r for r in audit.trail("_global") if r.action == "extortion.clear"]
    assert (
        record.actor == "operator:ops1"
        and record.result == "cleared"
        and BUYER_UID not in json.dumps(record.attribute_values, default=str)
    )
    assert ops_main(["--user", "ops1", "extortion-clear", "--open-uid", BUYER_UID]) == 1  # nothing left


def test_no_route_alert_log_line_or_stored_signal_names_a_contributor_a_count_or_the_buyer(client, clock, market):
    captured = io.StringIO()
    with app_output_to(captured), contextlib.redirect_stderr(captured):
        contributors = [open_shop(market, clock, n, **SHARE) for n in (1, 2, 3)]
        warned = open_shop(market, clock, 4, extortion_receive=True, extortion_on_paid="memo")
        bodies = []
        for n, seller_id in enumerate(contributors, start=1):
            pressured(client, clock, market, seller_id, n, f"390000000000{n}80")
            bodies.append(confirm(client, clock, seller_id, f"390000000000{n}80").body.decode())
            auth = session(seller_id, clock.now())
            bodies.append(call(client, "GET", "/api/ratings?days=7", auth).body.decode())
            bodies.append(call(client, "GET", "/api/export/ratings.csv?days=7", auth).body.decode("utf-8-sig"))
        paid(client, clock, market, warned, 4, "3900000000008400")
        work_review_queue(client)
        auth = session(warned, clock.now())
        bodies += [call(client, "GET", path, auth).body.decode() for path in ("/api/tasks", "/api/settings")]
    logs = captured.getvalue()
    assert '"message":"extortion warning"' in logs  # the capture holds this run's records
    alerts = [json.dumps(n.attribute_values, default=str, ensure_ascii=False) for n in outbox.recent(warned)]
    assert any("确认以评价要挟" in a for a in alerts)
    secret = container().buyer_hash_secret()
    contributor_keys = [shop_key(secret, c) for c in contributors]
    nicks = ["shop_1", "shop_2", "shop_3"]
    for where, text in (("logs", logs), ("alerts", "\n".join(alerts)), ("answers", "\n".join(bodies))):
        assert BUYER not in text and BUYER_UID not in text, where
        assert not any(k in text for k in contributor_keys), where
    for text in alerts:
        assert not any(c in text for c in contributors) and not any(n in text for n in nicks)
    warning_lines = [line for line in logs.splitlines() if "extortion warning" in line]
    assert warning_lines and not any(c in line for c in contributors for line in warning_lines)
    # What is stored: hashes, opaque shop keys, kinds and times; no nick, text, order or seller id.
    stored = json.dumps([item.attribute_values for item in Signal.scan()], default=str, ensure_ascii=False)
    for value in (BUYER, BUYER_UID, PRESSURE, *contributors, *nicks, "390000000000180"):
        assert value not in stored


def test_the_order_time_lookup_is_one_batch_read_for_a_receiving_shop_cached_and_none_for_the_others(
    client, clock, market, monkeypatch
):
    _flag_buyer(client, clock, market)
    receiving = open_shop(market, clock, 4, extortion_receive=True)
    other = open_shop(market, clock, 5)
    reads = []
    real = Signal.batch_get.__func__

    def counted(cls, keys, *args, **kwargs):
        keys = list(keys)
        reads.append(len(keys))
        return real(cls, keys, *args, **kwargs)

    monkeypatch.setattr(Signal, "batch_get", classmethod(counted))
    container().forget_caches()
    paid(client, clock, market, other, 5, "3900000000009500")
    assert reads == []  # a shop that does not receive warnings costs no read
    paid(client, clock, market, receiving, 4, "3900000000009400")
    assert reads == [2]  # one BatchGetItem: the nick's and the open uid's flag items
    paid(client, clock, market, receiving, 4, "3900000000009401")
    assert reads == [2]  # the same buyer again within five minutes: from the container's cache
    assert len(warnings_of(receiving)) == 2

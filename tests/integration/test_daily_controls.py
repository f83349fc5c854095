"""The seller's daily controls end to end through chalice's test client: pause and resume, order filters, the
random delay and the next reviews' times, the phrase library, and the what-if of settings before saving."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest

from chalicelib.marketplace import topics
from chalicelib.services.reviews.schedule_review import rng
from chalicelib.store import sellers, tasks
from sandbox.lambda_driver import scheduled_event
from tests.helpers import add_market_trade, json_body, push, topic_message, trade_message, work_review_queue
from tests.integration.test_seller_api import audited, call, session

TID = "3900000000000101"


def _push_trade(client, clock, market, shop, tid: str, **content):
    add_market_trade(market, clock, tid)
    answer = push(client, [trade_message(shop, tid, clock.now(), msg_id=f"m{tid}", **content)], clock.now())
    assert json_body(answer)["results"][0]["status"] == "ok"


def _sweep_and_work(client, clock) -> None:
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    work_review_queue(client)


def _put_settings(client, auth, body) -> dict:
    answer = call(client, "PUT", "/api/settings", auth, body)
    assert answer.status_code == 200, answer.body
    return json_body(answer)


# -- 1. on/off ---------------------------------------------------------------------------------------------------
def test_a_paused_seller_s_reviews_wait_and_go_out_on_resume(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    assert json_body(call(client, "GET", "/api/auto-review", auth))["paused"] is False

    paused = call(client, "POST", "/api/auto-review/pause", auth)
    assert paused.status_code == 200 and json_body(paused)["paused"] is True
    assert json_body(call(client, "GET", "/api/settings", auth))  # settings still read while paused
    _push_trade(client, clock, market, shop, TID)
    assert tasks.get(shop, TID).state == "held" and tasks.get(shop, TID).holds == {"paused"}
    _sweep_and_work(client, clock)
    assert market.post_counts(int(TID)) == 0
    state = json_body(call(client, "GET", "/api/auto-review", auth))
    assert state["paused"] is True and state["waiting"] == 1 and state["paused_at"]

    clock.advance(3600)
    auth = session(shop, clock.now())
    resumed = json_body(call(client, "POST", "/api/auto-review/resume", auth))
    assert resumed["paused"] is False and resumed["waiting"] == 0
    _sweep_and_work(client, clock)
    assert tasks.get(shop, TID).state == "posted" and market.post_counts(int(TID)) == 1
    assert [r.detail["held"] for r in audited(shop, "auto_review.pause")] == [0]
    assert [r.detail["released"] for r in audited(shop, "auto_review.resume")] == [1]


def test_pausing_holds_scheduled_reviews_and_those_past_their_window_expire_on_resume(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    _put_settings(client, auth, {"mode": "delay", "delay_hours": 48})
    _push_trade(client, clock, market, shop, TID)
    assert tasks.get(shop, TID).state == "scheduled"
    assert call(client, "POST", "/api/auto-review/pause", auth).status_code == 200
    assert tasks.get(shop, TID).state == "held"
    # Pausing twice changes nothing and audits once.
    assert call(client, "POST", "/api/auto-review/pause", auth).status_code == 200
    assert len(audited(shop, "auto_review.pause")) == 1

    clock.advance(16 * 86400)
    auth = session(shop, clock.now())
    assert json_body(call(client, "POST", "/api/auto-review/resume", auth))["paused"] is False
    task = tasks.get(shop, TID)
    assert (task.state, task.reason) == ("expired", "paused_window_closed")
    assert market.post_counts(int(TID)) == 0


def test_reviews_of_a_seller_who_never_resumes_expire_when_their_window_closes(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    _put_settings(client, auth, {"mode": "delay", "delay_hours": 48})
    before, during = TID, "3900000000000111"
    _push_trade(client, clock, market, shop, before)  # scheduled, then held by the pause
    assert call(client, "POST", "/api/auto-review/pause", auth).status_code == 200
    clock.advance(3600)
    _push_trade(client, clock, market, shop, during)  # held as it is created
    assert {tasks.get(shop, t).state for t in (before, during)} == {"held"}

    clock.advance(15 * 86400 - 3600 - 60)  # a minute before the first window closes: nothing changes
    _sweep_and_work(client, clock)
    assert {tasks.get(shop, t).state for t in (before, during)} == {"held"}
    clock.advance(120)  # the first window has closed, the second is open for another hour
    _sweep_and_work(client, clock)
    assert (tasks.get(shop, before).state, tasks.get(shop, before).reason) == ("expired", "paused_window_closed")
    assert tasks.get(shop, during).state == "held"
    clock.advance(3600)
    _sweep_and_work(client, clock)
    assert (tasks.get(shop, during).state, tasks.get(shop, during).reason) == ("expired", "paused_window_closed")
    assert market.post_counts(int(before)) == market.post_counts(int(during)) == 0
    state = json_body(call(client, "GET", "/api/auto-review", session(shop, clock.now())))
    assert state["paused"] is True and state["waiting"] == 0
    _sweep_and_work(client, clock)  # expired tasks left the due index: nothing is sent again
    assert client.lambda_.invoke("sweep", scheduled_event(clock.now())).payload["queued"] == 0


def test_the_worker_holds_a_review_it_meets_while_paused(client, aws, clock, market, shop):
    from chalicelib.store import seller_marks

    _push_trade(client, clock, market, shop, TID)  # queued at once, immediate mode
    seller_marks.set_review_paused(shop, True, now=clock.now())  # paused between the push and the worker
    work_review_queue(client)
    task = tasks.get(shop, TID)
    assert task.holds == {"paused"} and market.post_counts(int(TID)) == 0
    assert int(task.due_at) == int(task.trade_end) + 15 * 86400  # looked at again when its window closes


def test_the_operator_sees_the_pause(client, aws, clock, shop):
    from chalicelib.services.operations import operator_actions
    from chalicelib.services.reviews import auto_review

    auto_review.pause(shop, now=clock.now())
    summary = operator_actions.seller_summary(shop, actor="op", now=clock.now())
    assert summary["auto_review_paused"] is True
    auto_review.resume(shop, now=clock.now())
    assert operator_actions.seller_summary(shop, actor="op", now=clock.now())["auto_review_paused"] is False


# -- 2. order filters --------------------------------------------------------------------------------------------
def test_order_filters_skip_trades_and_say_which_filter(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    body = _put_settings(
        client,
        auth,
        {"filters": {"min_amount": "10", "max_amount": "500", "skip_items": ["样品", "600000000777"]}},
    )
    assert body["settings"]["filters"]["min_amount"] == "10"
    cases = {
        "3900000000000201": ({"payment": "9.99"}, "filter_amount_low"),
        "3900000000000202": ({"payment": "500.01"}, "filter_amount_high"),
        "3900000000000203": ({"item_title": "试用样品装"}, "filter_item_skipped"),
        "3900000000000204": ({"num_iid": "600000000777"}, "filter_item_skipped"),
        "3900000000000205": ({"payment": "10.00", "item_title": "保温杯"}, None),
    }
    for tid, (content, _) in cases.items():
        _push_trade(client, clock, market, shop, tid, **content)
    for tid, (_, reason) in cases.items():
        task = tasks.get(shop, tid)
        assert (task.state, task.reason) == (("skipped", reason) if reason else ("scheduled", None)), tid
    listed = json_body(call(client, "GET", "/api/tasks?state=skipped", auth))["tasks"]
    assert sorted(t["reason"] for t in listed) == sorted(r for _, r in cases.values() if r)
    stats = json_body(call(client, "GET", "/api/stats?days=1", auth))
    assert stats["totals"]["skipped"]["filtered"] == 4


def test_an_include_list_changed_after_scheduling_still_applies_before_posting(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    _put_settings(client, auth, {"mode": "delay", "delay_hours": 1})
    _push_trade(client, clock, market, shop, TID, item_title="保温杯")
    _put_settings(client, auth, {"filters": {"include_items": ["连衣裙"]}})
    clock.advance(2 * 3600)
    auth = session(shop, clock.now())
    _sweep_and_work(client, clock)
    task = tasks.get(shop, TID)
    assert (task.state, task.reason) == ("skipped", "filter_item_not_included")
    assert market.post_counts(int(TID)) == 0


ITEM = 600000000777  # the sandbox trade's item id in the item-filter tests
FULLINFO = "taobao.trade.fullinfo.get"


def _market_trade(market, clock, tid: str, *, item_id: int = ITEM, title: str = "保温杯") -> None:
    market.add_trade(
        "test_shop",
        tid=int(tid),
        oid=int(tid) + 1,
        buyer_nick="tb_buyer_77",
        buyer_open_uid=f"AAH{tid}",
        payment="59.00",
        item_title=title,
        created=clock.now() - timedelta(days=3),
        end_time=clock.now(),
        num_iid=item_id,
    )


def _push_real_shaped(client, clock, shop, tid: str) -> None:
    # What the platform pushes for TradeSuccess: no item id and no title (TOP-NOTES, docs/platform.md).
    message = trade_message(shop, tid, clock.now(), msg_id=f"m{tid}")
    assert "num_iid" not in message["content"] and "item_title" not in message["content"]
    assert json_body(push(client, [message], clock.now()))["results"][0]["status"] == "ok"


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ({"skip_items": [str(ITEM)]}, "filter_item_skipped"),
        ({"skip_items": ["保温"]}, "filter_item_skipped"),
        ({"include_items": ["600000000001"]}, "filter_item_not_included"),
        ({"include_items": [str(ITEM)]}, None),
    ],
)
def test_a_pushed_trade_without_its_items_is_judged_by_item_filters_read_before_posting(
    client, aws, clock, market, shop, filters, reason
):
    auth = session(shop, clock.now())
    _put_settings(client, auth, {"filters": filters})
    _market_trade(market, clock, TID)
    _push_real_shaped(client, clock, shop, TID)
    assert tasks.get(shop, TID).state == "scheduled"  # unknown items filter nothing when the trade arrives
    work_review_queue(client)
    task = tasks.get(shop, TID)
    assert (task.state, task.reason) == (("skipped", reason) if reason else ("posted", None))
    assert market.post_counts(int(TID)) == (0 if reason else 1)
    assert market.calls[FULLINFO] == 1
    assert (task.item_id, task.item_title) == (str(ITEM), "保温杯")  # kept for the log and the what-if
    if reason:
        skipped = json_body(call(client, "GET", "/api/tasks?state=skipped", session(shop, clock.now())))["tasks"]
        assert [(t["tid"], t["reason"]) for t in skipped] == [(TID, reason)]


@pytest.mark.parametrize("filters", [{}, {"min_amount": "10", "skip_refund_buyers": True}])
def test_a_seller_without_item_filters_costs_no_read_of_the_trade(client, aws, clock, market, shop, filters):
    if filters:
        _put_settings(client, session(shop, clock.now()), {"filters": filters})
    _market_trade(market, clock, TID)
    _push_real_shaped(client, clock, shop, TID)
    work_review_queue(client)
    assert tasks.get(shop, TID).state == "posted"
    assert market.calls[FULLINFO] == 0


def test_an_item_read_that_fails_retries_the_review_and_never_posts_unfiltered(client, aws, clock, market, shop):
    _put_settings(client, session(shop, clock.now()), {"filters": {"skip_items": [str(ITEM)]}})
    _market_trade(market, clock, TID)
    market.faults.set(FULLINFO, error_rate=1.0)  # the platform fails the read (isp: retry later)
    _push_real_shaped(client, clock, shop, TID)
    work_review_queue(client)
    task = tasks.get(shop, TID)
    assert (task.state, task.reason) == ("scheduled", "items_unread") and market.post_counts(int(TID)) == 0
    market.faults.clear()
    clock.advance(3600)
    _sweep_and_work(client, clock)
    assert (tasks.get(shop, TID).state, tasks.get(shop, TID).reason) == ("skipped", "filter_item_skipped")


def test_a_reconciled_trade_carries_its_items_and_is_skipped_by_an_item_id_filter(client, aws, clock, market, shop):
    from chalicelib.services.jobs.reconcile_seller import reconcile_seller

    _put_settings(client, session(shop, clock.now()), {"filters": {"skip_items": [str(ITEM)]}})
    _market_trade(market, clock, TID)  # its TradeSuccess was never pushed
    other = "3900000000000102"
    _market_trade(market, clock, other, item_id=600000000001, title="连衣裙")
    clock.advance(3600)
    assert reconcile_seller(shop, now=clock.now()).scheduled == 2
    task = tasks.get(shop, TID)
    assert (task.state, task.reason, task.item_id) == ("skipped", "filter_item_skipped", str(ITEM))
    assert (tasks.get(shop, other).state, tasks.get(shop, other).item_title) == ("scheduled", "连衣裙")
    assert market.calls[FULLINFO] == 0  # the reconcile's trades carry their items


def test_buyers_who_asked_for_a_refund_or_opened_a_dispute_are_skipped(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    _put_settings(client, auth, {"filters": {"skip_dispute_buyers": True}})
    first, second, third = "3900000000000301", "3900000000000302", "3900000000000303"
    _push_trade(client, clock, market, shop, first, buyer="tb_refunder")
    refund = topic_message(
        topics.REFUND_CREATED, shop, first, clock.now(), msg_id="r1", buyer="tb_refunder", refund_phase="onsale"
    )
    push(client, [refund], clock.now())
    _push_trade(client, clock, market, shop, second, buyer="tb_refunder")
    assert tasks.get(shop, second).state == "scheduled"  # an on-sale refund is no dispute
    dispute = topic_message(
        topics.REFUND_CREATED, shop, second, clock.now(), msg_id="r2", buyer="tb_refunder", refund_phase="aftersale"
    )
    push(client, [dispute], clock.now())
    _push_trade(client, clock, market, shop, third, buyer="tb_refunder")
    assert (tasks.get(shop, third).state, tasks.get(shop, third).reason) == ("skipped", "filter_dispute_buyer")
    _push_trade(client, clock, market, shop, "3900000000000304", buyer="tb_someone_else")
    assert tasks.get(shop, "3900000000000304").state == "scheduled"


def test_bad_filters_are_refused_with_the_field(client, aws, clock, shop):
    auth = session(shop, clock.now())
    for body, field in (
        ({"filters": {"min_amount": "50", "max_amount": "10"}}, "filters"),
        ({"filters": {"min_amount": "-1"}}, "filters.min_amount"),
        ({"filters": {"skip_items": [""]}}, "filters.skip_items.0"),
        ({"filters": {"max_amount": "1.234"}}, "filters.max_amount"),
    ):
        answer = call(client, "PUT", "/api/settings", auth, body)
        assert answer.status_code == 400, body
        assert field in json_body(answer)["error"]["fields"], json_body(answer)


# -- 3. random delay and the next reviews ------------------------------------------------------------------------
def test_a_random_delay_spreads_reviews_inside_the_range_and_the_preview_shows_them(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    _put_settings(client, auth, {"random_delay": {"min_minutes": 30, "max_minutes": 240}})
    rng().seed(25)
    start = clock.now()
    for n in range(6):
        _push_trade(client, clock, market, shop, f"39000000000004{n:02d}")
    dues = [int(tasks.get(shop, f"39000000000004{n:02d}").due_at) - int(start.timestamp()) for n in range(6)]
    assert all(30 * 60 <= d <= 240 * 60 + 59 for d in dues) and len(set(dues)) > 1
    shown = json_body(call(client, "GET", "/api/auto-review", auth))
    assert len(shown["upcoming"]) == 6
    planned = [u["planned_at"] for u in shown["upcoming"]]
    assert planned == sorted(planned) and all(u["planned_at"] >= u["due_at"] for u in shown["upcoming"])


def _due_in_minutes(shop, tid: str, clock) -> float:
    return (int(tasks.get(shop, tid).due_at) - int(clock.now().timestamp())) / 60


def test_a_review_released_from_a_refund_hold_gets_a_fresh_random_delay(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    _put_settings(client, auth, {"random_delay": {"min_minutes": 30, "max_minutes": 90}})
    rng().seed(7)
    _push_trade(client, clock, market, shop, TID)
    opened = topic_message(topics.REFUND_CREATED, shop, TID, clock.now(), msg_id="r1", refund_id="501")
    push(client, [opened], clock.now())
    assert tasks.get(shop, TID).holds == {"refund"}
    clock.advance(6 * 3600)  # past its planned time
    closed = topic_message(topics.REFUND_CLOSED, shop, TID, clock.now(), msg_id="r2", refund_id="501")
    push(client, [closed], clock.now())
    assert tasks.get(shop, TID).state == "scheduled"
    assert 30 <= _due_in_minutes(shop, TID, clock) <= 90
    clock.advance(91 * 60)
    _sweep_and_work(client, clock)
    assert tasks.get(shop, TID).state == "posted"


def test_reviews_released_on_resume_are_spread_over_the_random_delay(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    _put_settings(client, auth, {"random_delay": {"min_minutes": 30, "max_minutes": 240}})
    rng().seed(11)
    assert call(client, "POST", "/api/auto-review/pause", auth).status_code == 200
    tids = [f"39000000000005{n:02d}" for n in range(5)]
    for tid in tids:
        _push_trade(client, clock, market, shop, tid)
    clock.advance(8 * 3600)  # every planned time passed while paused
    assert call(client, "POST", "/api/auto-review/resume", session(shop, clock.now())).status_code == 200
    dues = [_due_in_minutes(shop, tid, clock) for tid in tids]
    assert all(30 <= d <= 240 for d in dues) and len(set(dues)) > 1, dues
    upcoming = json_body(call(client, "GET", "/api/auto-review", session(shop, clock.now())))["upcoming"]
    assert len(upcoming) == 5  # the preview shows when they go out


def test_a_random_delay_past_the_rating_window_is_refused(client, aws, clock, shop):
    auth = session(shop, clock.now())
    answer = call(client, "PUT", "/api/settings", auth, {"random_delay": {"min_minutes": 0, "max_minutes": 15 * 1440}})
    assert answer.status_code == 400
    assert "random_delay.max_minutes" in json_body(answer)["error"]["fields"]
    backwards = call(client, "PUT", "/api/settings", auth, {"random_delay": {"min_minutes": 60, "max_minutes": 30}})
    assert backwards.status_code == 400


# -- 4. phrase library -------------------------------------------------------------------------------------------
def test_the_phrase_library_is_served_and_picked_types_are_used_without_repeats(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    library = json_body(call(client, "GET", "/api/phrases", auth))
    assert library["total"] >= 200 and len(library["types"]) >= 8
    assert {t["name"] for t in library["types"]} >= {"服装", "食品", "美妆", "数码", "家居", "母婴", "图书", "通用"}
    food = next(t for t in library["types"] if t["key"] == "food")["phrases"]
    _put_settings(client, auth, {"phrase_types": ["food"], "template_strategy": "random"})
    contents = []
    for n in range(8):
        tid = f"39000000000005{n:02d}"
        _push_trade(client, clock, market, shop, tid, buyer="tb_regular")
        contents.append(tasks.get(shop, tid).content)
    assert all(a != b for a, b in pairwise(contents))
    assert any(c in food for c in contents)
    english = json_body(call(client, "GET", "/api/phrases", {**auth, "Accept-Language": "en"}))
    assert "Food" in {t["name"] for t in english["types"]}


def test_an_unknown_phrase_type_is_refused(client, aws, clock, shop):
    answer = call(client, "PUT", "/api/settings", session(shop, clock.now()), {"phrase_types": ["weapons"]})
    assert answer.status_code == 400 and "phrase_types.0" in json_body(answer)["error"]["fields"]


# -- 9. what-if --------------------------------------------------------------------------------------------------
def test_the_what_if_replays_the_last_30_days_under_new_settings_and_saves_nothing(client, aws, clock, market, shop):
    auth = session(shop, clock.now())
    for n, payment in enumerate(("5.00", "59.00", "120.00", "800.00")):
        _push_trade(client, clock, market, shop, f"39000000000006{n:02d}", payment=payment)
    work_review_queue(client)
    clock.advance(86400)
    auth = session(shop, clock.now())
    version = json_body(call(client, "GET", "/api/settings", auth))["version"]

    tried = call(client, "POST", "/api/settings/what-if", auth, {"filters": {"min_amount": "10", "max_amount": "500"}})
    assert tried.status_code == 200, tried.body
    report = json_body(tried)
    assert report["trades"] == 4 and report["actual"] == {"posted": 4}
    assert report["simulated"]["posted"] == 2
    assert report["simulated"]["skipped"] == {"filter_amount_low": 1, "filter_amount_high": 1}
    assert sum(report["posted_by_hour"]) == 2 and sum(d["posted"] for d in report["posted_by_day"]) == 2
    assert json_body(call(client, "GET", "/api/settings", auth))["version"] == version

    # Paused, every review that passes the filters waits; a bad setting is refused like a save would be.
    call(client, "POST", "/api/auto-review/pause", auth)
    paused = json_body(call(client, "POST", "/api/settings/what-if", auth, {}))
    assert paused["simulated"]["held"] == {"paused": 4} and paused["simulated"]["posted"] == 0
    bad = call(client, "POST", "/api/settings/what-if", auth, {"filters": {"min_amount": "9", "max_amount": "1"}})
    assert bad.status_code == 400


def test_pause_routes_refuse_a_body_they_do_not_take(client, aws, clock, shop):
    answer = call(client, "POST", "/api/auto-review/pause", session(shop, clock.now()), {"until": "tomorrow"})
    assert answer.status_code == 400
    assert sellers.get(shop).review_paused_at is None

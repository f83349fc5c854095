"""The bad-review center through the API: a buyer's bad rating is triaged from its text, listed with a suggested
reply, answered with one click through the write guard (once), exported as CSV, and summarized; bad faith is never
answered automatically; error messages follow the seller's language while codes stay the same."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from chalicelib.marketplace import topics
from chalicelib.services.ratings import rating_center
from chalicelib.store import audit, outbox, ratings, tasks
from tests.helpers import add_market_trade, json_body, push, set_seller, topic_message, trade_message, work_review_queue
from tests.integration.test_seller_api import call, session

EXPLAIN = "taobao.traderate.explain.add"


def rate(client, clock, market, shop, tid: str, result: str, text: str) -> None:
    """A finished trade the buyer then rated, with words, pushed as the platform would."""
    add_market_trade(market, clock, tid)
    push(client, [trade_message(shop, tid, clock.now())], clock.now())
    clock.advance(1800)
    market.add_buyer_rate(int(tid), result, text)
    rated = topic_message(topics.TRADE_RATED, shop, tid, clock.now(), msg_id=f"r{tid}", rater="buyer", result=result)
    assert json_body(push(client, [rated], clock.now()))["results"][0]["status"] == "ok"


def settle(clock, shop, **settings) -> None:
    set_seller(shop, clock.now(), settings=settings)


def test_a_bad_rating_is_triaged_listed_and_explained_once_with_one_click(client, clock, market, shop):
    rate(client, clock, market, shop, "3900000000000801", "bad", "物流太慢了，等了一个星期才到，快递也不送上门")
    auth = session(shop, clock.now())

    page = json_body(call(client, "GET", "/api/ratings?days=7", auth))
    [rating] = page["ratings"]
    assert rating["text"].startswith("物流太慢")
    assert rating["triage"]["category"] == "logistics" and rating["triage"]["category_name"] == "物流/发货"
    assert rating["state"] == "due" and rating["explanation"] is None
    assert "t***7" not in rating["suggestion"] and rating["suggestion"]
    assert market.calls.get(EXPLAIN, 0) == 0  # nothing is posted until the seller asks (auto-explain is off)

    done = call(
        client, "POST", "/api/ratings/3900000000000801/explain", auth, {"text": "抱歉物流慢了，{shop_name}已换快递"}
    )
    assert done.status_code == 200, done.body
    body = json_body(done)
    assert body["result"] == "queued" and body["rating"]["explanation"]["state"] == "queued"
    assert market.calls.get(EXPLAIN, 0) == 0  # nothing is sent inside the request: the review worker sends it
    work_review_queue(client)
    [rating] = json_body(call(client, "GET", "/api/ratings?days=7", auth))["ratings"]
    assert rating["state"] == "explained"
    assert rating["explanation"]["text"] == "抱歉物流慢了，test_shop已换快递"
    assert market.calls[EXPLAIN] == 1
    assert [r.result for r in audit.trail(shop) if r.action == EXPLAIN] == ["posted"]

    again = call(client, "POST", "/api/ratings/3900000000000801/explain", auth)
    assert again.status_code == 409 and json_body(again)["error"]["code"] == "not_explainable"
    assert json_body(again)["error"]["message"].startswith("这条评价现在不能解释")
    english = call(client, "POST", "/api/ratings/3900000000000801/explain", {**auth, "Accept-Language": "en-US,en"})
    assert json_body(english)["error"]["code"] == "not_explainable"
    assert json_body(english)["error"]["message"].startswith("This rating cannot be explained")
    assert market.calls[EXPLAIN] == 1

    explained = json_body(call(client, "GET", "/api/ratings?days=7&state=explained", auth))["ratings"]
    due = json_body(call(client, "GET", "/api/ratings?days=7&state=due", auth))["ratings"]
    assert [r["tid"] for r in explained] == ["3900000000000801"] and due == []


def test_auto_explain_answers_the_enabled_categories_and_never_bad_faith(client, clock, market, shop):
    settle(clock, shop, auto_explain=True, auto_explain_categories=["logistics", "quality", "bad_faith"])
    rate(client, clock, market, shop, "3900000000000811", "bad", "快递太慢了，等了十天才收到货")
    rate(client, clock, market, shop, "3900000000000812", "bad", "不给我返现二十块就给差评，自己看着办")
    rate(client, clock, market, shop, "3900000000000813", "neutral", "太贵了，不值这个价")
    work_review_queue(client)

    assert ratings.explanation_of(tasks.get(shop, "3900000000000811"))["state"] == "explained"
    extortion = tasks.get(shop, "3900000000000812")
    assert extortion.triage["category"] == "bad_faith" and extortion.explanation is None
    assert tasks.get(shop, "3900000000000813").explanation is None  # price is not among the enabled categories
    assert market.calls[EXPLAIN] == 1

    auth = session(shop, clock.now())
    listed = {r["tid"]: r for r in json_body(call(client, "GET", "/api/ratings", auth))["ratings"]}
    assert set(listed) == {"3900000000000811", "3900000000000812", "3900000000000813"}
    assert listed["3900000000000812"]["triage"]["auto_explain_allowed"] is False
    assert listed["3900000000000812"]["state"] == "due"  # the seller may still answer it by hand

    insight = json_body(call(client, "GET", "/api/ratings/insight?days=30", auth))
    assert insight["totals"] == {"logistics": 1, "bad_faith": 1, "price": 1}
    assert insight["total"] == 3 and insight["explained"] == 1 and len(insight["days"]) == 30
    assert [c["key"] for c in insight["categories"]][-1] == "other"


def test_unknown_categories_are_refused_field_by_field_in_the_sellers_language(client, clock, shop):
    auth = session(shop, clock.now())
    answer = call(client, "PUT", "/api/settings", auth, {"explain_by_category": {"weather": ["下雨了"]}})
    error = json_body(answer)["error"]
    assert answer.status_code == 400 and error["code"] == "invalid_settings"
    assert error["message"] == "设置未保存：请修改标红的项目。"
    assert error["fields"] == {"explain_by_category.weather": "未知的差评类别“weather”"}
    english = call(client, "PUT", "/api/settings", {**auth, "Cookie": "hp_lang=en"}, {"auto_explain_categories": ["x"]})
    assert json_body(english)["error"]["fields"] == {"auto_explain_categories.x": "unknown complaint category 'x'"}

    saved = call(client, "PUT", "/api/settings", auth, {"explain_by_category": {"size_fit": ["抱歉尺码不合适"]}})
    assert saved.status_code == 200
    assert json_body(saved)["settings"]["explain_by_category"] == {"size_fit": ["抱歉尺码不合适"]}


def _rows(response) -> list[list[str]]:
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = response.body.decode("utf-8") if isinstance(response.body, bytes) else response.body
    assert text.startswith("\ufeff")  # Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def test_reviews_and_ratings_export_as_csv_with_a_bom(client, clock, market, shop):
    rate(client, clock, market, shop, "3900000000000821", "bad", "包装太差了，盒子都压扁了")
    auth = session(shop, clock.now())
    ratings = _rows(call(client, "GET", "/api/export/ratings.csv", auth))
    assert ratings[0][:4] == ["订单号", "宝贝", "买家", "买家评价"]
    assert ratings[1][0] == "3900000000000821" and ratings[1][3] == "差评" and ratings[1][5].startswith("包装太差")
    assert ratings[1][6] == "包装"
    reviews = _rows(call(client, "GET", "/api/export/reviews.csv", {**auth, "Accept-Language": "en"}))
    assert reviews[0][0] == "Trade" and [row[0] for row in reviews[1:]] == ["3900000000000821"]
    bad_range = call(client, "GET", "/api/export/reviews.csv?from=2026-01-01&to=2025-01-01", auth)
    assert bad_range.status_code == 400
    for kind in ("reviews", "ratings"):
        far = call(client, "GET", f"/api/export/{kind}.csv?to=5440-10-27", auth)
        assert far.status_code == 400
        ahead = _rows(call(client, "GET", f"/api/export/{kind}.csv?from=2099-12-01&to=2099-12-31", auth))
        assert len(ahead) == 1  # the header alone: nothing can have happened yet


def test_the_journey_shows_the_next_step(client, clock, shop):
    steps = json_body(call(client, "GET", "/api/journey", session(shop, clock.now())))
    assert [(s["step"], s["state"]) for s in steps["steps"]] == [
        ("subscription", "done"),
        ("authorization", "done"),
        ("backfill", "done"),
        ("first_reviews", "current"),
    ]
    assert steps["complete"] is False


@pytest.mark.parametrize(("weekday_offset", "sent"), [(0, True), (1, False)])
def test_the_weekly_summary_goes_out_on_a_market_monday_once(client, clock, market, shop, weekday_offset, sent):
    rate(client, clock, market, shop, "3900000000000831", "bad", "客服态度很差，问什么都不回")
    now = clock.now()
    monday = now + timedelta(days=(7 - (now + timedelta(hours=8)).weekday()) % 7 + weekday_offset)
    assert rating_center.weekly_summary(shop, now=monday) is sent
    rating_center.weekly_summary(shop, now=monday)
    summaries = [n for n in outbox.recent(shop) if n.kind == "weekly_summary"]
    assert len(summaries) == (1 if sent else 0)
    if sent:
        assert "服务态度 1 条" in summaries[0].message

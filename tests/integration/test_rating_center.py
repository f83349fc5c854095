"""The bad-review center through the API: a buyer's bad rating is triaged from its text, listed with a suggested
reply, answered with one click through the write guard (once), exported as CSV, and summarized; bad faith is never
answered automatically; error messages follow the seller's language while codes stay the same."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import triage
from chalicelib.marketplace import topics
from chalicelib.services.ratings import rating_center
from chalicelib.store import audit, outbox, ratings, tasks, triage_corrections, triage_data
from sandbox.stack import rebind_app
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
        client,
        "POST",
        "/api/ratings/3900000000000801/explain",
        auth,
        {"text": "抱歉物流慢了{捂脸}，{shop_name}已换快递"},
    )
    assert done.status_code == 200, done.body
    body = json_body(done)
    assert body["result"] == "queued" and body["rating"]["explanation"]["state"] == "queued"
    assert market.calls.get(EXPLAIN, 0) == 0  # nothing is sent inside the request: the review worker sends it
    work_review_queue(client)
    [rating] = json_body(call(client, "GET", "/api/ratings?days=7", auth))["ratings"]
    assert rating["state"] == "explained"
    # The seller's own words are plain text: braces are posted as written, never read as placeholders.
    assert rating["explanation"]["text"] == "抱歉物流慢了{捂脸}，{shop_name}已换快递"
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


@pytest.mark.parametrize("text", ["{捂脸}抱歉让您久等了", "谢谢{", "}很抱歉", "{0}号快递已加急", "{{shop_name}}"])
def test_an_edited_reply_with_braces_is_plain_text_and_queued(client, clock, market, shop, text):
    rate(client, clock, market, shop, "3900000000000803", "bad", "物流太慢了")
    done = call(client, "POST", "/api/ratings/3900000000000803/explain", session(shop, clock.now()), {"text": text})
    assert done.status_code == 200, done.body
    assert tasks.get(shop, "3900000000000803#explain").content == text


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        ("亲，有问题请打13812345678联系我们", "zh-CN", "含有联系方式（第 8 个字起的手机号）"),
        ("亲，请搜微信号shop888处理", "zh-CN", "含有平台禁用词“微信号”；含有联系方式（第 5 个字起的微信或 QQ 号）"),
        ("亲，有问题联系V信：shop_888", "zh-CN", "含有联系方式（第 8 个字起的微信或 QQ 号）"),
        ("亲，加扣扣12345678细聊", "zh-CN", "含有联系方式（第 4 个字起的微信或 QQ 号）"),
        ("亲，vx: shop888 找我们", "zh-CN", "含有链接、网址或联系方式等平台禁止的内容"),
        ("好" * 501, "zh-CN", "内容 501 字，超过了 500 字的上限"),
        ("   ", "zh-CN", "内容不能为空"),
        ("call 13812345678", "en", "content contains something like a phone number starting at character 6"),
    ],
)
def test_a_reply_the_rules_refuse_is_a_field_error_and_nothing_is_queued(
    client, clock, market, shop, text, lang, reason
):
    rate(client, clock, market, shop, "3900000000000804", "bad", "物流太慢了")
    auth = {**session(shop, clock.now()), "Accept-Language": lang}
    refused = call(client, "POST", "/api/ratings/3900000000000804/explain", auth, {"text": text})
    assert refused.status_code == 400
    error = json_body(refused)["error"]
    assert error["code"] == "explanation_refused"
    assert error["fields"] == {"text": reason}
    assert tasks.get(shop, "3900000000000804#explain") is None  # refused before anything was queued
    assert ratings.explanation_of(tasks.get(shop, "3900000000000804")) is None
    work_review_queue(client)
    assert market.calls.get(EXPLAIN, 0) == 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.sampled_from(["{", "}", "{0}", "{{", "}}{"])
)
def test_no_reply_a_seller_can_type_answers_5xx(client, clock, market, shop, text):
    if tasks.get(shop, "3900000000000805") is None:
        rate(client, clock, market, shop, "3900000000000805", "bad", "物流太慢了")
    answer = call(client, "POST", "/api/ratings/3900000000000805/explain", session(shop, clock.now()), {"text": text})
    assert answer.status_code in (200, 400, 409), (text, answer.body)
    assert json_body(answer).get("error", {}).get("code") in (None, "explanation_refused", "not_explainable")


def test_auto_explain_answers_only_enabled_categories_that_earned_it_and_never_bad_faith(client, clock, market, shop):
    # Stored directly: the settings API would refuse logistics (not measured precise enough) and bad faith.
    settle(clock, shop, auto_explain=True, auto_explain_categories=["pilling_fading", "logistics", "bad_faith"])
    assert "pilling_fading" in rating_center.auto_categories()
    assert not {"logistics", "bad_faith"} & rating_center.auto_categories()
    rate(client, clock, market, shop, "3900000000000811", "bad", "毛衣穿了一次就起球了，掉色也厉害")
    rate(client, clock, market, shop, "3900000000000812", "bad", "不给我返现二十块就给差评，自己看着办")
    rate(client, clock, market, shop, "3900000000000813", "neutral", "快递太慢了，等了十天才收到货")
    work_review_queue(client)

    assert ratings.explanation_of(tasks.get(shop, "3900000000000811"))["state"] == "explained"
    extortion = tasks.get(shop, "3900000000000812")
    assert extortion.triage["category"] == "bad_faith" and extortion.explanation is None
    slow = tasks.get(shop, "3900000000000813")
    assert slow.triage["category"] == "logistics" and slow.explanation is None  # enabled, but only a suggestion
    assert market.calls[EXPLAIN] == 1

    auth = session(shop, clock.now())
    listed = {r["tid"]: r for r in json_body(call(client, "GET", "/api/ratings", auth))["ratings"]}
    assert set(listed) == {"3900000000000811", "3900000000000812", "3900000000000813"}
    assert listed["3900000000000812"]["triage"]["auto_explain_allowed"] is False
    assert listed["3900000000000813"]["triage"]["auto_explain_allowed"] is False
    assert listed["3900000000000811"]["triage"]["auto_explain_allowed"] is True
    assert listed["3900000000000812"]["state"] == "due"  # the seller may still answer it by hand

    insight = json_body(call(client, "GET", "/api/ratings/insight?days=30", auth))
    assert insight["totals"] == {"pilling_fading": 1, "bad_faith": 1, "logistics": 1}
    assert insight["total"] == 3 and insight["explained"] == 1 and len(insight["days"]) == 30
    assert [c["key"] for c in insight["categories"]][-2:] == ["other", "unsure"]


def test_unknown_categories_are_refused_field_by_field_in_the_sellers_language(client, clock, shop):
    auth = session(shop, clock.now())
    answer = call(client, "PUT", "/api/settings", auth, {"explain_by_category": {"weather": ["下雨了"]}})
    error = json_body(answer)["error"]
    assert answer.status_code == 400 and error["code"] == "invalid_settings"
    assert error["message"] == "设置未保存：请修改标红的项目。"
    assert error["fields"] == {"explain_by_category.weather": "未知的差评类别“weather”"}
    # Named in the same round as any other bad field.
    both = call(client, "PUT", "/api/settings", auth, {"delay_hours": -1, "auto_explain_categories": ["weather"]})
    assert set(json_body(both)["error"]["fields"]) == {"delay_hours", "auto_explain_categories.weather"}
    english = call(client, "PUT", "/api/settings", {**auth, "Cookie": "hp_lang=en"}, {"auto_explain_categories": ["x"]})
    assert json_body(english)["error"]["fields"] == {"auto_explain_categories.x": "unknown complaint category 'x'"}

    saved = call(client, "PUT", "/api/settings", auth, {"explain_by_category": {"size_fit": ["抱歉尺码不合适"]}})
    assert saved.status_code == 200
    assert json_body(saved)["settings"]["explain_by_category"] == {"size_fit": ["抱歉尺码不合适"]}


_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%")
_STRING_CONSTANT = re.compile(r'="([^"]*)"')


def _as_spreadsheet(cell: str) -> object:
    """What a spreadsheet (Excel, WPS, LibreOffice) makes of one CSV cell when it opens the file: a string
    constant formula is its text; any other cell that starts (after tabs and returns) with = + - @ is a formula,
    refused here; a number keeps 15 significant digits; ``96%`` is 0.96; an apostrophe keeps the rest as text."""
    if constant := _STRING_CONSTANT.fullmatch(cell):
        return constant.group(1)
    if cell.startswith("'"):
        return cell[1:]
    if _NUMBER.fullmatch(cell):
        return float(f"{float(cell):.15g}")
    if share := _PERCENT.fullmatch(cell):
        return float(share.group(1)) / 100
    assert not cell.lstrip("\t\r").startswith(("=", "+", "-", "@")), f"a spreadsheet would run {cell!r}"
    return cell


def _spreadsheet(response) -> list[list[object]]:
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    data = response.body if isinstance(response.body, bytes) else response.body.encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")  # the byte-order mark: Excel reads the file as UTF-8
    rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    return [[_as_spreadsheet(cell) for cell in row] for row in rows]


HOSTILE_REVIEW = '=HYPERLINK("http://evil.example/x","点这里领红包")'
HOSTILE_TITLE = "=cmd|' /C calc'!A0"


def test_exports_open_in_a_spreadsheet_as_written_with_whole_order_numbers(client, clock, market, shop):
    tid = "3912345678901234567"  # 19 digits: a spreadsheet reading it as a number would keep only 15
    rate(client, clock, market, shop, tid, "bad", HOSTILE_REVIEW)
    rate(client, clock, market, shop, "3900000000000822", "neutral", "@SUM(1+1)*cmd|' /C calc'!A0 洗了一次就掉色")
    for hostile in (tasks.get(shop, tid), tasks.get(shop, "3900000000000822")):
        hostile.item_title = HOSTILE_TITLE
        hostile.save()
    auth = session(shop, clock.now())

    ratings = _spreadsheet(call(client, "GET", "/api/export/ratings.csv", auth))
    assert ratings[0] == [
        *("订单号", "宝贝", "买家", "买家评价", "买家评价时间", "买家评价内容", "中差评原因", "识别准确度"),
        *("解释状态", "解释内容", "解释截止"),
    ]
    by_tid = {row[0]: row for row in ratings[1:]}
    assert set(by_tid) == {tid, "3900000000000822"}  # every digit of each order number survives
    assert by_tid[tid][1] == HOSTILE_TITLE and by_tid[tid][5] == HOSTILE_REVIEW  # shown as written, never run
    assert by_tid["3900000000000822"][5].startswith("@SUM(1+1)")
    for row in ratings[1:]:
        assert isinstance(row[7], float) and 0 < row[7] <= 1  # a percentage, not 0.9648 written out

    reviews = _spreadsheet(call(client, "GET", "/api/export/reviews.csv", auth))
    assert reviews[0][:5] == ["订单号", "宝贝", "买家", "状态", "原因"]
    rows = {row[0]: row for row in reviews[1:]}
    assert set(rows) == {tid, "3900000000000822"} and rows[tid][1] == HOSTILE_TITLE
    reasons = {row[4] for row in reviews[1:]} - {""}
    assert reasons and all(not reason.isascii() for reason in reasons)  # 买家给了中差评, not buyer_bad_rating

    english = _spreadsheet(call(client, "GET", "/api/export/reviews.csv", {**auth, "Accept-Language": "en"}))
    assert english[0][0] == "Trade" and {row[0] for row in english[1:]} == {tid, "3900000000000822"}


def test_an_export_period_is_bounded_at_both_ends(client, clock, shop):
    auth = session(shop, clock.now())
    bad_range = call(client, "GET", "/api/export/reviews.csv?from=2026-01-01&to=2025-01-01", auth)
    assert bad_range.status_code == 400
    for kind in ("reviews", "ratings"):
        far = call(client, "GET", f"/api/export/{kind}.csv?to=5440-10-27", auth)
        assert far.status_code == 400
        # One end alone: 'to' is today, so a 'from' long ago would be years of rows.
        since = call(client, "GET", f"/api/export/{kind}.csv?from=2000-01-01", auth)
        assert since.status_code == 400 and json_body(since)["error"]["fields"] == {"from": "最多比结束日期早 90 天"}
        ahead = _spreadsheet(call(client, "GET", f"/api/export/{kind}.csv?from=2099-12-01&to=2099-12-31", auth))
        assert len(ahead) == 1  # the header alone: nothing can have happened yet
        only_to = _spreadsheet(call(client, "GET", f"/api/export/{kind}.csv?to=2026-12-01", auth))
        assert len(only_to) == 1


def test_the_journey_shows_the_next_step(client, clock, shop):
    steps = json_body(call(client, "GET", "/api/journey", session(shop, clock.now())))
    assert [(s["step"], s["state"]) for s in steps["steps"]] == [
        ("subscription", "done"),
        ("authorization", "done"),
        ("backfill", "done"),
        ("first_reviews", "current"),
    ]
    assert steps["complete"] is False
    # "去服务市场订购" goes to this app's own listing in the service market, not to the market's home page.
    assert steps["subscribe_url"] == "https://fuwu.taobao.com/ser/detail.htm?service_code=FW_GOODS-1000000"


def test_the_subscribe_link_follows_the_listing_setting(client, clock, shop, monkeypatch):
    listing = "https://fuwu.taobao.com/ser/detail.htm?service_code=FW_GOODS-7654321&tracelog=haoping"
    monkeypatch.setenv("HAOPING_SERVICE_LISTING_URL", listing)
    rebind_app()
    steps = json_body(call(client, "GET", "/api/journey", session(shop, clock.now())))
    assert steps["subscribe_url"] == listing


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
        assert "中差评原因主要是：服务态度 1 条" in summaries[0].message  # the seller's words, not 买家主要抱怨


def test_a_category_not_measured_precise_enough_cannot_be_made_automatic(client, clock, shop):
    auth = session(shop, clock.now())
    eligible = rating_center.auto_categories()
    refused = sorted(set(triage_data.categories().keys()) - eligible - {"bad_faith", "unsure"})[0]
    answer = call(client, "PUT", "/api/settings", auth, {"auto_explain_categories": [refused, "bad_faith"]})
    assert answer.status_code == 400
    fields = json_body(answer)["error"]["fields"]
    name = f"auto_explain_categories.{refused}"
    assert fields[name] == f"“{refused}”这类中差评的识别准确度还不到 95%，只能给建议，不能自动解释"
    assert "auto_explain_categories.bad_faith" in fields
    insight = json_body(call(client, "GET", "/api/ratings/insight?days=7", auth))
    shown = {c["key"]: c for c in insight["categories"]}
    assert not shown[refused]["auto_explain"] and not shown["bad_faith"]["auto_explain"]
    assert all(shown[key]["auto_explain"] and shown[key]["measured_precision"] >= 0.95 for key in eligible)


def test_a_suspected_demand_shows_the_words_that_tied_it_to_the_rating(client, clock, market, shop):
    rate(client, clock, market, shop, "3900000000000841", "bad", "东西一般，加我微信转五十，不然这个差评永远挂着")
    rate(client, clock, market, shop, "3900000000000842", "bad", "质量太差了，第一次给差评，申请退款也不理")
    auth = session(shop, clock.now())
    listed = {r["tid"]: r["triage"] for r in json_body(call(client, "GET", "/api/ratings", auth))["ratings"]}
    suspected, honest = listed["3900000000000841"], listed["3900000000000842"]
    assert suspected["category"] == "bad_faith" and suspected["category_name"] == "疑似以评价要挟"
    assert suspected["evidence"] and all(
        words in "加我微信转五十，不然这个差评永远挂着" for words in suspected["evidence"]
    )
    assert suspected["auto_explain_allowed"] is False
    assert honest["category"] != "bad_faith" and honest["evidence"] == []


@pytest.mark.parametrize("shared", [False, True])
def test_changing_a_ratings_category_records_a_correction_without_the_buyer(client, clock, market, shop, shared):
    settle(clock, shop, share_corrections=shared)
    text = "颜色跟图片差好多，不喜欢"
    rate(client, clock, market, shop, "3900000000000851", "bad", text)
    auth = session(shop, clock.now())
    before = json_body(call(client, "GET", "/api/ratings", auth))["ratings"][0]["triage"]["category"]
    target = "price" if before != "price" else "service"

    changed = call(client, "PUT", "/api/ratings/3900000000000851/category", auth, {"category": target})
    assert changed.status_code == 200, changed.body
    view = json_body(changed)
    assert view["triage"]["category"] == target and view["triage"]["corrected_from"] == before
    assert tasks.get(shop, "3900000000000851").triage["category"] == target

    [record] = [r for r in audit.trail(shop) if r.action == triage_corrections.ACTION]
    assert record.detail == {
        "text_hash": triage.text_key(text),
        "from": before,
        "to": target,
        "model": tasks.get(shop, "3900000000000851").triage["model"],
    }
    assert text not in str(record.detail) and "3900000000000851" not in str(record.detail)
    pooled = triage_corrections.shared()
    if shared:
        [row] = pooled
        assert row["text"] == text and row["to"] == target and shop not in json.dumps(row, ensure_ascii=False)
    else:
        assert pooled == []
    assert json_body(call(client, "GET", f"/api/ratings?days=7&category={target}", auth))["ratings"]

    unsure = call(client, "PUT", "/api/ratings/3900000000000851/category", auth, {"category": "unsure"})
    assert unsure.status_code == 400 and json_body(unsure)["error"]["code"] == "invalid_request"
    missing = call(client, "PUT", "/api/ratings/3900000000000859/category", auth, {"category": "price"})
    assert missing.status_code == 404


def test_an_authenticity_complaint_is_answered_automatically_only_when_the_seller_chose_it(client, clock, market, shop):
    # Auto-explain on, no category chosen: the kinds answered by default; authenticity takes a stand in public,
    # so it waits for the seller unless chosen by name.
    assert "counterfeit" in rating_center.auto_categories()
    assert "counterfeit" not in triage_data.default_auto_categories()
    assert "pilling_fading" in triage_data.default_auto_categories()
    settle(clock, shop, auto_explain=True)
    rate(client, clock, market, shop, "3900000000000821", "bad", "这是假货吧，和专柜的完全不一样，防伪码也扫不出来")
    rate(client, clock, market, shop, "3900000000000822", "bad", "毛衣穿了一次就起球了，掉色也厉害")
    work_review_queue(client)
    fake = tasks.get(shop, "3900000000000821")
    assert fake.triage["category"] == "counterfeit" and fake.explanation is None
    assert ratings.explanation_of(tasks.get(shop, "3900000000000822"))["state"] == "explained"

    settle(clock, shop, auto_explain=True, auto_explain_categories=["counterfeit"])
    rate(client, clock, market, shop, "3900000000000823", "bad", "这是假货吧，和专柜的完全不一样，防伪码也扫不出来")
    work_review_queue(client)
    assert ratings.explanation_of(tasks.get(shop, "3900000000000823"))["state"] == "explained"
    assert "均为正品" not in json.dumps(triage_data.categories().get("counterfeit").templates, ensure_ascii=False)

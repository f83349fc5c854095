"""The seller's 操作日志, rating numbers and blacklist notes through the API, on trades the sandbox marketplace
finished and buyers rated: what was posted, skipped (and why), explained (and by whom), blacklisted (from which
order); 好评率 per period and the items drawing complaints; an export Excel opens safely."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

from chalicelib.store import audit
from tests.helpers import add_market_trade, json_body, make_seller, push, trade_message, work_review_queue
from tests.integration.test_rating_center import rate
from tests.integration.test_seller_api import call, session


def log(client, auth, query: str = "") -> list[dict]:
    response = client.http.get("/api/log" + query, headers=auth)
    assert response.status_code == 200, response.body
    return json_body(response)["entries"]


def test_the_log_shows_who_did_what_and_why_a_review_was_skipped(client, clock, market, shop):
    auth = session(shop, clock.now())
    rate(client, clock, market, shop, "3900000000000901", "bad", "质量太差了，用了一天就坏了")
    work_review_queue(client)
    clock.advance(60)
    added = call(client, "POST", "/api/blacklist", auth, {"tid": "3900000000000901", "note": "差评师，别再评"})
    assert added.status_code == 201, added.body
    entry = json_body(added)["entries"][0]
    assert (entry["reason"], entry["tid"], entry["note"], entry["buyer"]) == (
        "bad_rating",
        "3900000000000901",
        "差评师，别再评",
        "t***7",
    )
    assert call(client, "PUT", "/api/settings", auth, {"delay_hours": 6}).status_code == 200
    assert call(client, "POST", "/api/ratings/3900000000000901/explain", auth).status_code == 200
    clock.advance(60)
    add_market_trade(market, clock, "3900000000000902")  # the same buyer again
    push(client, [trade_message(shop, "3900000000000902", clock.now())], clock.now())
    work_review_queue(client)

    entries = log(client, auth)
    texts = [e["text"] for e in entries]
    assert "订单 3900000000000902 未评价：黑名单买家" in texts
    assert "把一位买家加入黑名单（从中差评拉黑）" in texts
    assert "修改了设置（delay_hours）" in texts
    assert "请求解释订单 3900000000000901 的中差评" in texts
    assert [e["who"] for e in entries if e["action"] == "explanation.request"] == ["seller"]
    assert [e["who"] for e in entries if e["action"] == "taobao.traderate.explain.add"] == ["system"]
    assert {e["who"] for e in entries if e["kind"] == "review"} == {"system"}
    assert entries == sorted(entries, key=lambda e: e["at"], reverse=True)

    reviews = log(client, auth, "?kind=review")
    assert reviews and {e["kind"] for e in reviews} == {"review"}
    skipped = [e for e in reviews if e["result"] == "skipped"]
    assert [(e["tid"], e["reason"]) for e in skipped] == [
        ("3900000000000902", "blacklisted"),
        ("3900000000000901", "buyer_bad_rating"),
    ]
    mine = log(client, auth, "?who=seller")
    assert mine and {e["who"] for e in mine} == {"seller"}
    english = json_body(client.http.get("/api/log?kind=blacklist", headers={**auth, "Accept-Language": "en"}))
    assert english["entries"][0]["text"] == "Blacklisted a buyer (From a bad rating)"


def test_the_log_pages_and_exports_for_excel(client, clock, shop):
    auth = session(shop, clock.now())
    for hours in range(1, 6):
        assert call(client, "PUT", "/api/settings", auth, {"delay_hours": hours}).status_code == 200
        clock.advance(1)
    first = json_body(client.http.get("/api/log?limit=2", headers=auth))
    assert len(first["entries"]) == 2 and first["next_cursor"]
    seen = [e["id"] for e in first["entries"]]
    cursor = first["next_cursor"]
    while cursor:
        page = json_body(client.http.get(f"/api/log?limit=2&cursor={quote(cursor)}", headers=auth))
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5

    export = client.http.get("/api/export/log.csv?kind=settings", headers=auth)
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.body.decode("utf-8-sig"))))
    assert rows[0] == ["时间（北京时间）", "类型", "操作人", "内容", "订单号"]
    assert len(rows) == 6 and {r[2] for r in rows[1:]} == {"您"}
    assert call(client, "GET", "/api/log?from=2026-01-02&to=2026-01-01", auth).status_code == 400
    assert call(client, "GET", "/api/log?kind=everything", auth).status_code == 400


ID_CELL = re.compile(r'="[0-9]+"')


def test_order_ids_export_as_text(client, clock, market, shop):
    auth = session(shop, clock.now())
    add_market_trade(market, clock, "3900000000000951")
    push(client, [trade_message(shop, "3900000000000951", clock.now())], clock.now())
    work_review_queue(client)
    rows = list(csv.reader(io.StringIO(client.http.get("/api/export/log.csv", headers=auth).body.decode("utf-8-sig"))))
    assert [r[4] for r in rows[1:]] == ['="3900000000000951"']
    # Besides the id's string constant, no cell starts what a spreadsheet would run.
    assert not any(c.startswith(("=", "+", "-", "@")) for row in rows for c in row if not ID_CELL.fullmatch(c))


def test_the_numbers_count_good_rates_items_and_explanations(client, clock, market, shop):
    auth = session(shop, clock.now())
    for i, result in enumerate(["good", "good", "good", "neutral", "bad"]):
        rate(
            client, clock, market, shop, f"390000000000097{i}", result, "" if result == "good" else "太慢了，包装也破了"
        )
    work_review_queue(client)
    auth = session(shop, clock.now())
    assert call(client, "POST", "/api/ratings/3900000000000974/explain", auth).status_code == 200
    work_review_queue(client)

    numbers = json_body(client.http.get("/api/numbers", headers=auth))
    r30 = numbers["rates"][0]
    assert [r["days"] for r in numbers["rates"]] == [30, 90, 180]
    assert (r30["good"], r30["neutral"], r30["bad"], r30["rate"]) == (3, 1, 1, 0.6)
    assert (r30["explained"], r30["explained_share"]) == (1, 0.5)
    complained = numbers["items"] + ([{"item": None}] * numbers["unknown_item"])
    assert len(complained) == 2


def test_blacklisting_by_order_needs_the_sellers_own_order(client, clock, market, shop):
    auth = session(shop, clock.now())
    assert call(client, "POST", "/api/blacklist", auth, {"tid": "3900000000000999"}).status_code == 404
    other = make_seller(clock.now(), user_id="2200000099", nick="other_shop")
    rate(client, clock, market, shop, "3900000000000991", "bad", "太差了")
    theirs = call(client, "POST", "/api/blacklist", session(other, clock.now()), {"tid": "3900000000000991"})
    assert theirs.status_code == 404
    assert [r.action for r in audit.trail(other)].count("blacklist.add") == 0
    assert (
        call(client, "POST", "/api/blacklist", auth, {"note": "x" * 201, "tid": "3900000000000991"}).status_code == 400
    )

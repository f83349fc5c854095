"""Every /api route tried by one seller against another's data.

The rule, the same on every route: a request that *names* another seller (``seller_id`` in the query or
body) is 403; a task or blacklist entry of another seller is 404, indistinguishable from one that does
not exist. Either way nothing of the other seller is returned or changed.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.domain.task_state import State
from chalicelib.store.models import Blacklist, Seller, Stats, Task
from tests.helpers import json_body, make_seller
from tests.integration.test_seller_api import call, seed_task, session

THEIR_TID = "3900000000000777"
MY_TID = "3900000000000111"
THEIR_BUYER = "tb_their_buyer"


@pytest.fixture
def tenants(aws, client, clock):
    """Two sellers with tasks, blacklists, statistics and distinct settings; returns (mine, theirs, headers)."""
    mine = make_seller(clock.now(), user_id="2200000101", nick="my_shop")
    theirs = make_seller(
        clock.now(),
        user_id="2200000202",
        nick="their_shop",
        settings={"mode": "delay", "delay_hours": 48, "templates": ["他们的秘密模板"]},
    )
    seed_task(mine, MY_TID, clock.now(), state=State.FAILED, buyer_masked="m***e")
    seed_task(theirs, THEIR_TID, clock.now(), state=State.FAILED, buyer_masked="t***r")
    seed_task(theirs, "3900000000000778", clock.now(), state=State.SCHEDULED, buyer_masked="t***r")
    their_auth = session(theirs, clock.now())
    assert call(client, "POST", "/api/blacklist", their_auth, {"nick": THEIR_BUYER}).status_code == 201
    from chalicelib.store import stats

    stats.bump(theirs, "2026-11-11", {"failed": 7, "rating_bad": 3}, now=clock.now())
    return mine, theirs, session(mine, clock.now())


def snapshot(seller_id: str) -> str:
    """Everything stored for a seller, as comparable text."""
    rows = [Seller.get(seller_id).attribute_values]
    for model in (Task, Blacklist, Stats):
        rows += [item.attribute_values for item in model.query(seller_id)]
    return json.dumps(rows, sort_keys=True, default=str)


def their_entry_id(client, theirs, clock) -> str:
    page = json_body(client.http.get("/api/blacklist", headers=session(theirs, clock.now())))
    return page["entries"][0]["id"]


def attempts(client, theirs, clock) -> dict[tuple[str, str], list[tuple[str, str, object, int]]]:
    """For every /api route: (method, path, body, expected status) requests aimed at the other seller."""
    entry = their_entry_id(client, theirs, clock)
    named = {"seller_id": theirs}
    return {
        ("POST", "/api/logout"): [("POST", f"/api/logout?seller_id={theirs}", None, 403)],
        ("GET", "/api/settings"): [("GET", f"/api/settings?seller_id={theirs}", None, 403)],
        ("PUT", "/api/settings"): [("PUT", "/api/settings", {**named, "delay_hours": 1}, 403)],
        ("POST", "/api/settings/preview"): [("POST", "/api/settings/preview", {**named, "template": "x"}, 403)],
        ("GET", "/api/tasks"): [("GET", f"/api/tasks?seller_id={theirs}", None, 403)],
        ("POST", "/api/tasks/{tid}/retry"): [
            ("POST", f"/api/tasks/{THEIR_TID}/retry", None, 404),
            ("POST", f"/api/tasks/{MY_TID}/retry", named, 403),
        ],
        ("POST", "/api/tasks/{tid}/cancel"): [
            ("POST", "/api/tasks/3900000000000778/cancel", None, 404),
            ("POST", f"/api/tasks/{MY_TID}/cancel", named, 403),
        ],
        ("GET", "/api/blacklist"): [("GET", f"/api/blacklist?seller_id={theirs}", None, 403)],
        ("POST", "/api/blacklist"): [("POST", "/api/blacklist", {**named, "nick": "tb_someone"}, 403)],
        ("DELETE", "/api/blacklist"): [
            ("DELETE", "/api/blacklist", {"id": entry, "confirm": True}, 404),
            ("DELETE", f"/api/blacklist?id={entry}&confirm=true", None, 404),
            ("DELETE", "/api/blacklist", {"nick": THEIR_BUYER, "confirm": True}, 404),
            ("DELETE", "/api/blacklist", {**named, "id": entry, "confirm": True}, 403),
            ("DELETE", "/api/blacklist", {**named, "id": entry}, 403),
        ],
        ("GET", "/api/stats"): [("GET", f"/api/stats?seller_id={theirs}", None, 403)],
        ("GET", "/api/subscription"): [("GET", f"/api/subscription?seller_id={theirs}", None, 403)],
        ("GET", "/api/openapi.json"): [],  # public, describes the API and holds no seller data
        ("GET", "/api/journey"): [("GET", f"/api/journey?seller_id={theirs}", None, 403)],
        ("GET", "/api/ratings"): [("GET", f"/api/ratings?seller_id={theirs}", None, 403)],
        ("GET", "/api/ratings/insight"): [("GET", f"/api/ratings/insight?seller_id={theirs}", None, 403)],
        ("POST", "/api/ratings/{tid}/explain"): [
            ("POST", f"/api/ratings/{THEIR_TID}/explain", None, 404),
            ("POST", f"/api/ratings/{MY_TID}/explain", named, 403),
        ],
        ("PUT", "/api/ratings/{tid}/category"): [
            ("PUT", f"/api/ratings/{THEIR_TID}/category", {"category": "price"}, 404),
            ("PUT", f"/api/ratings/{MY_TID}/category", {**named, "category": "price"}, 403),
        ],
        ("GET", "/api/export/reviews.csv"): [("GET", f"/api/export/reviews.csv?seller_id={theirs}", None, 403)],
        ("GET", "/api/export/ratings.csv"): [("GET", f"/api/export/ratings.csv?seller_id={theirs}", None, 403)],
        ("GET", "/api/inbox"): [("GET", f"/api/inbox?seller_id={theirs}", None, 403)],
        ("POST", "/api/inbox/read"): [("POST", "/api/inbox/read", {**named, "all": True}, 403)],
        ("GET", "/api/robots"): [("GET", f"/api/robots?seller_id={theirs}", None, 403)],
        ("PUT", "/api/robots"): [("PUT", "/api/robots", {**named, "channel": "wecom", "webhook": "k" * 32}, 403)],
        ("DELETE", "/api/robots"): [("DELETE", "/api/robots", {**named, "channel": "wecom"}, 403)],
        ("POST", "/api/robots/test"): [("POST", "/api/robots/test", {**named, "channel": "wecom"}, 403)],
        ("GET", "/api/log"): [("GET", f"/api/log?seller_id={theirs}", None, 403)],
        ("GET", "/api/export/log.csv"): [("GET", f"/api/export/log.csv?seller_id={theirs}", None, 403)],
        ("GET", "/api/numbers"): [("GET", f"/api/numbers?seller_id={theirs}", None, 403)],
        ("POST", "/api/blacklist#tid"): [("POST", "/api/blacklist", {"tid": THEIR_TID}, 404)],
        ("POST", "/api/ratings/{tid}/extortion"): [
            ("POST", f"/api/ratings/{THEIR_TID}/extortion", None, 404),
            ("POST", f"/api/ratings/{MY_TID}/extortion?seller_id={theirs}", None, 403),
        ],
        ("GET", "/api/auto-review"): [("GET", f"/api/auto-review?seller_id={theirs}", None, 403)],
        ("POST", "/api/auto-review/pause"): [("POST", "/api/auto-review/pause", named, 403)],
        ("POST", "/api/auto-review/resume"): [("POST", f"/api/auto-review/resume?seller_id={theirs}", None, 403)],
        ("GET", "/api/phrases"): [("GET", f"/api/phrases?seller_id={theirs}", None, 403)],
        ("POST", "/api/settings/what-if"): [("POST", "/api/settings/what-if", {**named, "delay_hours": 1}, 403)],
    }


def test_every_api_route_is_tried_against_another_seller(client, tenants, clock):
    from app import app

    _, theirs, _ = tenants
    planned = attempts(client, theirs, clock)
    routes = {(method, path) for path, methods in app.routes.items() if path.startswith("/api") for method in methods}
    tried = {(method, path.split("#")[0]) for method, path in planned}
    assert routes == tried, "a new /api route needs its cross-tenant case here"


def test_naming_or_touching_another_sellers_data_changes_and_returns_nothing(client, tenants, clock):
    mine, theirs, my_auth = tenants
    before = {seller: snapshot(seller) for seller in (mine, theirs)}
    for route, tries in attempts(client, theirs, clock).items():
        for method, path, body, status in tries:
            response = call(client, method, path, my_auth, body)
            assert response.status_code == status, (route, path, body, response.body)
            error = json_body(response)["error"]
            assert error["code"] == ("forbidden" if status == 403 else "not_found")
            text = response.body.decode()
            assert theirs not in text and THEIR_TID not in text and "t***r" not in text
    assert {seller: snapshot(seller) for seller in (mine, theirs)} == before


def test_reads_show_only_the_sessions_own_data(client, tenants, clock):
    _, theirs, my_auth = tenants
    reads = ["/api/settings", "/api/tasks", "/api/blacklist", "/api/stats", "/api/subscription"]
    for path in reads:
        text = client.http.get(path, headers=my_auth).body.decode()
        for secret in (theirs, THEIR_TID, "t***r", "他们的秘密模板", "their_shop"):
            assert secret not in text, (path, secret)
    listed = json_body(client.http.get("/api/tasks", headers=my_auth))["tasks"]
    assert [t["tid"] for t in listed] == [MY_TID]
    assert json_body(client.http.get("/api/blacklist", headers=my_auth))["entries"] == []
    assert json_body(client.http.get("/api/stats?days=1", headers=my_auth))["totals"]["failed"] == 0
    their_stats = client.http.get("/api/stats?days=1", headers=session(theirs, clock.now()))
    assert json_body(their_stats)["totals"]["failed"] == 7
    preview = call(client, "POST", "/api/settings/preview", my_auth, b"")
    assert "my_shop" in json_body(preview)["content"]


def test_naming_ones_own_seller_id_is_allowed(client, tenants):
    mine, _, my_auth = tenants
    assert client.http.get(f"/api/tasks?seller_id={mine}", headers=my_auth).status_code == 200
    response = call(client, "PUT", "/api/settings", my_auth, {"seller_id": mine, "delay_hours": 3})
    assert response.status_code == 200 and json_body(response)["settings"]["delay_hours"] == 3


def test_another_sellers_cursor_only_ever_pages_through_ones_own_tasks(client, tenants, clock):
    _, theirs, my_auth = tenants
    for i in range(3):
        seed_task(theirs, f"39000000000009{i:02d}", clock.now(), trade_end=clock.now() - timedelta(hours=i + 1))
    their_page = json_body(client.http.get("/api/tasks?limit=1", headers=session(theirs, clock.now())))
    assert their_page["next_cursor"]
    mine_page = client.http.get(f"/api/tasks?cursor={their_page['next_cursor']}", headers=my_auth)
    assert mine_page.status_code == 200
    assert {t["tid"] for t in json_body(mine_page)["tasks"]} <= {MY_TID}
    their_auth = session(theirs, clock.now())
    assert call(client, "POST", "/api/blacklist", their_auth, {"nick": "tb_another"}).status_code == 201
    cursor = json_body(client.http.get("/api/blacklist?limit=1", headers=their_auth))["next_cursor"]
    assert cursor
    assert json_body(client.http.get(f"/api/blacklist?cursor={cursor}", headers=my_auth))["entries"] == []


def test_the_same_buyer_blacklisted_by_two_sellers_is_two_separate_entries(client, tenants, clock):
    _, theirs, my_auth = tenants
    assert call(client, "POST", "/api/blacklist", my_auth, {"nick": THEIR_BUYER}).status_code == 201
    assert call(client, "DELETE", "/api/blacklist", my_auth, {"nick": THEIR_BUYER, "confirm": True}).status_code == 200
    their_entries = json_body(client.http.get("/api/blacklist", headers=session(theirs, clock.now())))["entries"]
    assert len(their_entries) == 1

"""The seller REST API through chalice's test client: every route, validation, 401s, 409s and paging."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.task_state import Event, State
from chalicelib.security.signed_tokens import issue
from chalicelib.services.sellers.seller_views import CursorInvalid, day_stats, decode_cursor, encode_cursor
from chalicelib.store import audit, stats, tasks
from tests.helpers import json_body, make_seller, push, trade_message

SESSION_SECRET = b"session-secret-for-tests"
SHARDS = 4


# -- helpers (also used by the tenant isolation suite) -----------------------------------------------------------
def session(seller_id: str, now: datetime, *, ttl: int = 3600, secret: bytes = SESSION_SECRET) -> dict:
    """Authorization header of a seller session token."""
    token = issue(secret, purpose="seller_session", subject=seller_id, now=now, ttl_seconds=ttl)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def call(client, method: str, path: str, headers: dict, body=None):
    """One request; ``body`` is JSON-encoded unless it already is bytes."""
    payload = body if isinstance(body, bytes | type(None)) else json.dumps(body).encode()
    return client.http.request(method, path, headers=headers, body=payload or b"")


def audited(seller_id: str, action: str) -> list:
    """The seller's audit records of ``action``."""
    return [r for r in audit.trail(seller_id, limit=100) if r.action == action]


def seed_task(
    seller_id: str,
    tid: str,
    now: datetime,
    *,
    state: State = State.SCHEDULED,
    trade_end: datetime | None = None,
    holds: frozenset[str] = frozenset(),
    reason: str | None = None,
    buyer_masked: str = "t***7",
) -> None:
    """A task in ``state`` written through the store's own transitions."""
    trade_end = trade_end or now
    initial = State.HELD if state is State.HELD else State.SCHEDULED
    created = tasks.create(
        tasks.NewTask(
            seller_id=seller_id,
            tid=tid,
            oid=tid + "1",
            trade_end=trade_end,
            due_at=now,
            state=initial,
            content="感谢亲的支持！",
            template_index=0,
            item_title="保温杯",
            buyer_hash=None,
            buyer_uid_hash=None,
            buyer_masked=buyer_masked,
            holds=holds if initial is State.HELD else frozenset(),
            reason=reason if initial is State.HELD else None,
        ),
        now=now,
        shards=SHARDS,
    )
    assert created
    if state in (State.SCHEDULED, State.HELD):
        return
    claim_due = now + timedelta(minutes=5)
    assert tasks.transition(seller_id, tid, Event.CLAIM, now=now, shards=SHARDS, due_at=claim_due)
    final = {
        State.CLAIMED: None,
        State.FAILED: Event.FAIL,
        State.POSTED: Event.POST,
        State.SKIPPED: Event.SKIP,
        State.EXPIRED: Event.EXPIRE,
    }[state]
    if final is not None:
        assert tasks.transition(seller_id, tid, final, now=now, shards=SHARDS, reason=reason)


@pytest.fixture
def seller(aws, clock) -> str:
    """A paid seller on the professional plan (every feature)."""
    return make_seller(clock.now())


@pytest.fixture
def auth(seller, clock) -> dict:
    return session(seller, clock.now())


# -- authentication ------------------------------------------------------------------------------------------------
def api_routes():
    """(method, path) of every /api route the app defines, with a sample tid in the path."""
    from app import app

    for path, methods in app.routes.items():
        if path.startswith("/api"):
            for method in methods:
                yield method, path.replace("{tid}", "3900000000000001")


def test_every_api_route_but_the_document_needs_a_valid_session(client, seller, clock):
    expired = session(seller, clock.now() - timedelta(hours=2), ttl=60)
    forged = session(seller, clock.now(), secret=b"someone-else's-secret")
    for method, path in api_routes():
        if path == "/api/openapi.json":
            continue
        for headers in ({}, expired, forged, {"Authorization": "Bearer nonsense"}):
            response = call(client, method, path, headers, {} if method in ("POST", "PUT", "DELETE") else None)
            assert response.status_code == 401, (method, path)
            assert json_body(response)["error"]["code"] == "unauthenticated"


def test_a_session_cookie_is_accepted_like_a_bearer_token(client, seller, clock, auth):
    token = auth["Authorization"].split()[1]
    response = client.http.get("/api/subscription", headers={"Cookie": f"theme=dark; hp_session={token}"})
    assert response.status_code == 200


# -- settings ------------------------------------------------------------------------------------------------------
def test_get_settings_shows_saved_settings_features_and_limits(client, auth):
    response = client.http.get("/api/settings", headers=auth)
    assert response.status_code == 200
    body = json_body(response)
    assert body["settings"]["mode"] == "immediate"
    assert "after_buyer" in body["features"]
    assert body["content_max_length"] == 500
    assert "buyer_masked" in body["template_variables"]


def test_put_changes_only_the_given_fields_and_is_audited(client, seller, auth):
    before = json_body(client.http.get("/api/settings", headers=auth))
    patch = {"mode": "delay", "delay_hours": 6, "alerts": {"sns": True}}
    response = call(client, "PUT", "/api/settings", auth, patch)
    assert response.status_code == 200, response.body
    after = json_body(response)
    assert after["settings"]["mode"] == "delay" and after["settings"]["delay_hours"] == 6
    assert after["settings"]["alerts"] == {**before["settings"]["alerts"], "outbox": True, "sns": True}
    assert before["settings"]["alerts"]["sns"] is False
    assert after["settings"]["templates"] == before["settings"]["templates"]
    assert after["version"] == before["version"] + 1
    assert json_body(client.http.get("/api/settings", headers=auth)) == after
    (record,) = audited(seller, "settings.update")
    assert (record.actor, record.action) == ("seller", "settings.update")
    assert record.detail["fields"] == ["alerts", "delay_hours", "mode"]


def test_a_half_valid_update_changes_nothing_and_names_every_bad_field(client, auth):
    before = json_body(client.http.get("/api/settings", headers=auth))
    patch = {"delay_hours": 5, "templates": ["好评 {nope}", "加微信有红包"], "fallback_margin_hours": 10_000}
    response = call(client, "PUT", "/api/settings", auth, patch)
    assert response.status_code == 400
    error = json_body(response)["error"]
    assert error["code"] == "invalid_settings"
    assert {"templates.0", "templates.1", "fallback_margin_hours"} <= set(error["fields"])
    assert error["fields"]["templates.0"] == "第 4 个字起的“{nope}”不是可用的变量，请点上方的【买家昵称】等按钮插入"
    assert error["fields"]["templates.1"] == "含有平台禁用词“红包”；含有平台禁用词“加微信”"
    assert json_body(client.http.get("/api/settings", headers=auth)) == before


def test_a_bad_number_does_not_hide_the_template_errors_beside_it(client, auth):
    before = json_body(client.http.get("/api/settings", headers=auth))
    patch = {"delay_hours": 9999, "templates": ["好评{buyer_nick}"], "explain_templates": ["请搜微信号abc"]}
    response = call(client, "PUT", "/api/settings", auth, patch)
    assert response.status_code == 400
    fields = json_body(response)["error"]["fields"]
    assert set(fields) == {"delay_hours", "templates.0", "explain_templates.0"}
    assert fields["delay_hours"] == "不能大于 360"
    assert fields["templates.0"].startswith("第 3 个字起的“{buyer_nick}”")
    assert fields["explain_templates.0"] == "含有平台禁用词“微信号”"
    assert json_body(client.http.get("/api/settings", headers=auth)) == before


BAD_SETTINGS = [
    ({"delay_hours": -1}, "delay_hours"),
    ({"mode": "whenever"}, "mode"),
    ({"templates": []}, "templates"),
    ({"colour": "red"}, "colour"),
    ({"alerts": {"pager": True}}, "alerts.pager"),
]


def test_put_rejects_bad_values_field_by_field(client, auth):
    for patch, field in BAD_SETTINGS:
        response = call(client, "PUT", "/api/settings", auth, patch)
        assert response.status_code == 400, patch
        assert field in json_body(response)["error"]["fields"], patch


def test_a_concurrent_change_is_a_conflict_not_a_lost_update(client, seller, auth, monkeypatch):
    from chalicelib.store import seller_writes

    original = seller_writes.set_settings

    def write_after_someone_else(seller_id, settings, *, expected_version, now):
        competing = {**settings, "delay_hours": 99}
        assert original(seller_id, competing, expected_version=expected_version, now=now) == expected_version + 1
        return original(seller_id, settings, expected_version=expected_version, now=now)

    monkeypatch.setattr(seller_writes, "set_settings", write_after_someone_else)
    response = call(client, "PUT", "/api/settings", auth, {"delay_hours": 5})
    assert response.status_code == 409 and json_body(response)["error"]["code"] == "conflict"
    monkeypatch.setattr(seller_writes, "set_settings", original)
    assert json_body(client.http.get("/api/settings", headers=auth))["settings"]["delay_hours"] == 99


def test_put_refuses_what_the_plan_does_not_include(client, clock, aws):
    basic = make_seller(clock.now(), user_id="2200000002", nick="basic_shop", plan="FW_GOODS-1000000-1")
    response = call(client, "PUT", "/api/settings", session(basic, clock.now()), {"mode": "after_buyer"})
    assert response.status_code == 400
    assert json_body(response)["error"]["fields"]["mode"] == "当前版本不包含此评价时机，请升级"


def test_put_needs_a_json_object(client, auth):
    for body in (b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe", b"[" * 20_000 + b"]" * 20_000):
        response = call(client, "PUT", "/api/settings", auth, body)
        assert response.status_code == 400, body
        assert json_body(response)["error"]["code"] == "invalid_request"


def test_an_oversized_body_is_refused(client, auth):
    response = call(client, "PUT", "/api/settings", auth, {"templates": ["好" * 70_000]})
    assert response.status_code == 400
    assert json_body(response)["error"]["message"].endswith("（请求内容超过 65536 字节）")


# -- preview -------------------------------------------------------------------------------------------------------
def test_preview_renders_for_a_sample_trade_with_the_buyer_masked(client, auth):
    body = {
        "template": "谢谢{buyer_masked}购买{item_title}，{shop_name}欢迎再来（{trade_date}）",
        "sample": {"buyer_nick": "tb_lucky_cat", "item_title": "茶杯", "trade_date": "2026-11-11"},
    }
    response = call(client, "POST", "/api/settings/preview", auth, body)
    assert response.status_code == 200
    shown = json_body(response)
    assert shown["content"] == "谢谢t***t购买茶杯，test_shop欢迎再来（2026-11-11）"
    assert shown["ok"] is True and shown["problems"] == []
    assert shown["length"] == len(shown["content"]) and shown["max_length"] == 500


def test_preview_reports_the_lint_verdict_and_template_errors(client, auth):
    banned = json_body(call(client, "POST", "/api/settings/preview", auth, {"template": "好评返现，加微信"}))
    assert banned["ok"] is False
    assert {p["code"] for p in banned["problems"]} == {"banned_word"}
    # Each banned word is named, in the seller's language.
    assert {p["message"] for p in banned["problems"]} == {f"含有平台禁用词“{w}”" for w in ("返现", "好评返", "加微信")}
    broken = json_body(call(client, "POST", "/api/settings/preview", auth, {"template": "谢谢{buyer}"}))
    assert broken["ok"] is False and broken["problems"][0]["code"] == "template_invalid"
    assert broken["problems"][0]["message"].startswith("第 3 个字起的“{buyer}”不是可用的变量")
    english = call(
        client, "POST", "/api/settings/preview", {**auth, "Accept-Language": "en"}, {"template": "谢谢{buyer}"}
    )
    assert json_body(english)["problems"][0]["message"].startswith("unknown variable 'buyer' at position 3")
    leaking = json_body(
        call(
            client,
            "POST",
            "/api/settings/preview",
            auth,
            {"template": "谢谢tb_lucky_cat", "sample": {"buyer_nick": "tb_lucky_cat"}},
        )
    )
    assert [p["code"] for p in leaking["problems"]] == ["buyer_identity"]


def test_preview_without_a_template_uses_the_first_saved_one(client, auth):
    saved = json_body(client.http.get("/api/settings", headers=auth))["settings"]["templates"][0]
    shown = json_body(call(client, "POST", "/api/settings/preview", auth, b""))
    assert shown["content"] == saved.replace("{shop_name}", "test_shop")
    explain = json_body(call(client, "POST", "/api/settings/preview", auth, {"kind": "explain"}))
    assert explain["ok"] is False and explain["problems"][0]["code"] == "empty_content"


def test_preview_validates_its_request(client, auth):
    response = call(client, "POST", "/api/settings/preview", auth, {"kind": "poem", "sample": {"buyer_nick": ""}})
    assert response.status_code == 400
    assert set(json_body(response)["error"]["fields"]) == {"kind", "sample.buyer_nick"}


# -- tasks: listing ------------------------------------------------------------------------------------------------
def _seed_days(seller: str, clock, count: int) -> list[str]:
    """``count`` tasks whose trades ended an hour apart; returns their tids newest first."""
    tids = []
    for i in range(count):
        tid = f"39{i:014d}"
        seed_task(seller, tid, clock.now(), trade_end=clock.now() - timedelta(hours=count - i))
        tids.append(tid)
    return tids[::-1]


def test_tasks_are_listed_newest_trade_first_one_page_per_cursor(client, seller, clock, auth):
    newest_first = _seed_days(seller, clock, 7)
    seen, cursor, pages = [], None, 0
    while True:
        path = "/api/tasks?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = json_body(client.http.get(path, headers=auth))
        seen += [t["tid"] for t in page["tasks"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert seller not in cursor and "3900" not in cursor
    assert seen == newest_first
    assert pages == 3
    first = json_body(client.http.get("/api/tasks?limit=1", headers=auth))["tasks"][0]
    assert first["buyer"] == "t***7" and first["state"] == "scheduled" and first["actions"] == ["cancel"]
    assert "buyer_hash" not in first and "response" not in first


def test_tasks_filter_by_state_and_market_day(client, seller, clock, auth):
    day = datetime(2026, 11, 8, 4, tzinfo=UTC)  # 12:00 market time
    seed_task(seller, "3900000000000010", clock.now(), trade_end=day, state=State.FAILED, reason="permission_denied")
    seed_task(seller, "3900000000000011", clock.now(), trade_end=day + timedelta(days=1), state=State.POSTED)
    seed_task(seller, "3900000000000012", clock.now(), trade_end=day + timedelta(days=2), state=State.FAILED)

    def tids(query):
        response = client.http.get(f"/api/tasks?{query}", headers=auth)
        assert response.status_code == 200, response.body
        return [t["tid"] for t in json_body(response)["tasks"]]

    assert tids("state=failed") == ["3900000000000012", "3900000000000010"]
    assert tids("from=2026-11-09&to=2026-11-09") == ["3900000000000011"]
    assert tids("state=failed&to=2026-11-09") == ["3900000000000010"]
    assert tids("from=2026-11-10") == ["3900000000000012"]
    assert tids("state=held") == []


def test_a_selective_filter_pages_through_without_losing_tasks(client, seller, clock, auth):
    for i in range(12):
        state = State.FAILED if i % 4 == 0 else State.POSTED
        seed_task(seller, f"39{i:014d}", clock.now(), trade_end=clock.now() - timedelta(hours=i), state=state)
    seen, cursor = [], None
    for _ in range(10):
        path = "/api/tasks?state=failed&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = json_body(client.http.get(path, headers=auth))
        seen += [t["tid"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"39{i:014d}" for i in (0, 4, 8)]


BAD_TASK_QUERIES = [
    ("state=lost", "state"),
    ("limit=0", "limit"),
    ("limit=101", "limit"),
    ("from=yesterday", "from"),
    ("from=2026-11-10&to=2026-11-09", "body"),
    ("colour=red", "colour"),
    ("cursor=%21%21%21", "cursor"),
    ("cursor=WyJhIiwiYiJd", "cursor"),
]


def test_task_list_rejects_bad_queries(client, auth):
    for query, field in BAD_TASK_QUERIES:
        response = client.http.get(f"/api/tasks?{query}", headers=auth)
        assert response.status_code == 400, query
        assert field in json_body(response)["error"].get("fields", {}), query


@given(st.integers(min_value=0, max_value=2**40), st.text(min_size=1, max_size=40))
def test_cursors_round_trip(trade_end, tid):
    assert decode_cursor(encode_cursor([trade_end, tid]), (int, str)) == [trade_end, tid]


@given(st.text(max_size=80))
def test_garbage_cursors_are_refused_not_crashed_on(text):
    try:
        position = decode_cursor(text, (int, str))
    except CursorInvalid:
        return
    assert type(position[0]) is int and type(position[1]) is str


# -- tasks: retry and cancel ---------------------------------------------------------------------------------------
def test_retry_reschedules_a_failed_task_now_with_a_fresh_attempt_budget(client, seller, clock, auth):
    seed_task(seller, "3900000000000020", clock.now(), state=State.FAILED, reason="transient_exhausted")
    listed = json_body(client.http.get("/api/tasks", headers=auth))["tasks"][0]
    assert listed["actions"] == ["retry"]
    clock.advance(60)
    response = call(client, "POST", "/api/tasks/3900000000000020/retry", auth)
    assert response.status_code == 200, response.body
    task = json_body(response)["task"]
    assert task["state"] == "scheduled" and task["reason"] is None and task["attempts"] == 0
    assert task["due_at"] == clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    stored = tasks.get(seller, "3900000000000020")
    assert stored.due_shard is not None and stored.failed_day is None
    assert [r.actor for r in audited(seller, "task.retry")] == ["seller"]
    again = call(client, "POST", "/api/tasks/3900000000000020/retry", auth)
    assert again.status_code == 409
    assert json_body(again)["error"]["code"] == "not_retryable_scheduled"


def test_retry_releases_a_task_held_for_the_sellers_review(client, seller, clock, auth):
    seed_task(seller, "3900000000000021", clock.now(), state=State.HELD, holds={"buyer_review"}, reason="buyer_review")
    response = call(client, "POST", "/api/tasks/3900000000000021/retry", auth)
    assert response.status_code == 200
    assert json_body(response)["task"]["state"] == "scheduled" and json_body(response)["task"]["holds"] == []


NOT_RETRYABLE = [
    (State.HELD, {"refund"}, "held"),
    (State.HELD, {"buyer_review", "plan_expired"}, "held"),
    (State.POSTED, set(), "not_retryable_posted"),
    (State.SCHEDULED, set(), "not_retryable_scheduled"),
    (State.CLAIMED, set(), "not_retryable_claimed"),
    (State.SKIPPED, set(), "not_retryable_skipped"),
]


def test_retry_is_refused_with_the_reason_where_it_makes_no_sense(client, seller, clock, auth):
    for i, (state, holds, code) in enumerate(NOT_RETRYABLE):
        tid = f"39000000000001{i:02d}"
        seed_task(seller, tid, clock.now(), state=state, holds=frozenset(holds), reason="refund")
        before = tasks.get(seller, tid).attribute_values
        response = call(client, "POST", f"/api/tasks/{tid}/retry", auth)
        assert response.status_code == 409, state
        assert json_body(response)["error"]["code"] == code and json_body(response)["error"]["message"]
        assert tasks.get(seller, tid).attribute_values == before


def test_retry_after_the_rating_window_closed_is_refused(client, seller, clock, auth):
    seed_task(seller, "3900000000000023", clock.now(), state=State.FAILED, trade_end=clock.now() - timedelta(days=16))
    response = call(client, "POST", "/api/tasks/3900000000000023/retry", auth)
    assert response.status_code == 409 and json_body(response)["error"]["code"] == "window_closed"


def test_retry_of_a_lint_failure_renders_the_text_again_from_the_current_templates(client, seller, clock, auth):
    seed_task(seller, "3900000000000024", clock.now(), state=State.FAILED, reason="lint: banned word")
    assert call(client, "PUT", "/api/settings", auth, {"templates": ["多谢惠顾！"]}).status_code == 200
    response = call(client, "POST", "/api/tasks/3900000000000024/retry", auth)
    assert json_body(response)["task"]["content"] == "多谢惠顾！"


def test_cancel_skips_an_open_task_and_counts_it(client, seller, clock, auth):
    seed_task(seller, "3900000000000030", clock.now(), state=State.SCHEDULED)
    seed_task(seller, "3900000000000031", clock.now(), state=State.HELD, holds=frozenset({"refund"}), reason="refund")
    for tid in ("3900000000000030", "3900000000000031"):
        response = call(client, "POST", f"/api/tasks/{tid}/cancel", auth)
        assert response.status_code == 200
        task = json_body(response)["task"]
        assert (task["state"], task["reason"], task["actions"], task["holds"]) == ("skipped", "cancelled", [], [])
        assert tasks.get(seller, tid).due_shard is None
    today = json_body(client.http.get("/api/stats?days=1", headers=auth))["days"][0]
    assert today["skipped"]["cancelled"] == 2
    assert sorted(r.target for r in audited(seller, "task.cancel")) == ["3900000000000030", "3900000000000031"]


def test_cancel_is_refused_with_the_reason_where_it_makes_no_sense(client, seller, clock, auth):
    refusals = [
        (State.CLAIMED, "in_progress"),
        (State.POSTED, "not_cancellable_posted"),
        (State.FAILED, "not_cancellable_failed"),
    ]
    for i, (state, code) in enumerate(refusals):
        tid = f"39000000000002{i:02d}"
        seed_task(seller, tid, clock.now(), state=state)
        response = call(client, "POST", f"/api/tasks/{tid}/cancel", auth)
        assert response.status_code == 409 and json_body(response)["error"]["code"] == code


def test_actions_on_unknown_or_malformed_tids(client, auth):
    assert call(client, "POST", "/api/tasks/3999999999999999/retry", auth).status_code == 404
    assert call(client, "POST", "/api/tasks/3999999999999999/cancel", auth).status_code == 404
    response = call(client, "POST", "/api/tasks/39%2A/cancel", auth)
    assert response.status_code in (400, 404)
    assert call(client, "POST", "/api/tasks/3999999999999999/cancel", auth, {"force": True}).status_code == 400


# -- blacklist -----------------------------------------------------------------------------------------------------
def test_blacklist_add_list_and_remove_never_return_the_nick(client, seller, clock, auth):
    added = call(client, "POST", "/api/blacklist", auth, {"nick": "tb_rude_buyer", "open_uid": "AAHrude01"})
    assert added.status_code == 201
    body = json_body(added)
    assert body["created"] == 2 and {e["buyer"] for e in body["entries"]} == {"t***r", "A***1"}
    again = call(client, "POST", "/api/blacklist", auth, {"nick": "tb_rude_buyer"})
    assert again.status_code == 200 and json_body(again)["created"] == 0
    listed = client.http.get("/api/blacklist", headers=auth)
    assert "tb_rude_buyer" not in listed.body.decode() and "AAHrude01" not in listed.body.decode()
    entries = json_body(listed)["entries"]
    assert len(entries) == 2 and all(e["reason"] == "manual" for e in entries)

    by_nick = call(client, "DELETE", "/api/blacklist", auth, {"nick": "tb_rude_buyer", "confirm": True})
    assert by_nick.status_code == 200 and json_body(by_nick)["removed"] == 1
    remaining = json_body(client.http.get("/api/blacklist", headers=auth))["entries"]
    by_id = client.http.delete(f"/api/blacklist?id={remaining[0]['id']}&confirm=true", headers=auth)
    assert by_id.status_code == 200
    assert json_body(client.http.get("/api/blacklist", headers=auth))["entries"] == []
    gone = call(client, "DELETE", "/api/blacklist", auth, {"id": remaining[0]["id"], "confirm": True})
    assert gone.status_code == 404
    actions = [r.action for r in audit.trail(seller, limit=10)]
    assert actions.count("blacklist.add") == 1 and actions.count("blacklist.remove") == 2  # one buyer added


def test_a_blacklisted_nick_is_skipped_when_its_trade_arrives(client, seller, clock, auth):
    assert call(client, "POST", "/api/blacklist", auth, {"nick": "tb_buyer_77"}).status_code == 201
    push(client, [trade_message(seller, "3900000000000040", clock.now())], clock.now())
    task = tasks.get(seller, "3900000000000040")
    assert (task.state, task.reason) == ("skipped", "blacklisted")


@pytest.mark.parametrize("how", ["body", "query", "false"])
def test_removing_a_blacklisted_buyer_needs_an_explicit_confirmation(client, seller, auth, how):
    added = json_body(call(client, "POST", "/api/blacklist", auth, {"nick": "tb_rude_buyer"}))["entries"][0]
    if how == "query":
        refused = client.http.delete(f"/api/blacklist?id={added['id']}", headers=auth)
    else:
        body = {"id": added["id"]} | ({"confirm": False} if how == "false" else {})
        refused = call(client, "DELETE", "/api/blacklist", auth, body)
    assert refused.status_code == 400
    error = json_body(refused)["error"]
    assert error["code"] == "confirmation_required" and "确认" in error["message"]
    assert error["fields"] == {"confirm": "需要确认后才能移出黑名单（confirm 要为 true）"}
    english = call(client, "DELETE", "/api/blacklist", {**auth, "Accept-Language": "en"}, {"id": added["id"]})
    assert json_body(english)["error"]["fields"] == {"confirm": "must be true to remove the buyer from the blacklist"}
    assert "confirmation" in json_body(english)["error"]["message"]
    assert [e["id"] for e in json_body(client.http.get("/api/blacklist", headers=auth))["entries"]] == [added["id"]]
    assert "blacklist.remove" not in [r.action for r in audit.trail(seller, limit=10)]


def test_blacklist_pages_by_cursor(client, auth):
    for i in range(5):
        call(client, "POST", "/api/blacklist", auth, {"nick": f"tb_buyer_{i}"})
    ids, cursor = [], None
    for _ in range(5):
        page = json_body(
            client.http.get("/api/blacklist?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=auth)
        )
        ids += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(ids) == len(set(ids)) == 5


BAD_BLACKLIST_REQUESTS = [
    ("POST", "/api/blacklist", {}),
    ("POST", "/api/blacklist", {"nick": "   "}),
    ("POST", "/api/blacklist", {"nick": "x" * 65}),
    ("POST", "/api/blacklist", {"nick": "tb_a", "reason": "rude"}),
    ("DELETE", "/api/blacklist", {}),
    ("DELETE", "/api/blacklist", {"id": "not-a-hash"}),
    ("DELETE", "/api/blacklist", {"id": "a" * 64, "nick": "tb_a"}),
    ("DELETE", "/api/blacklist?nick=tb_a", None),
    ("GET", "/api/blacklist?limit=500", None),
]


def test_blacklist_validates_its_input(client, auth):
    for method, path, body in BAD_BLACKLIST_REQUESTS:
        response = call(client, method, path, auth, body)
        assert response.status_code == 400, (method, path, body)
        assert json_body(response)["error"]["code"] == "invalid_request"
    assert json_body(client.http.get("/api/blacklist", headers=auth))["entries"] == []
    empty = json_body(call(client, "POST", "/api/blacklist", auth, {}))["error"]
    assert list(empty["fields"].values()) == ["请填写买家昵称或订单号"]  # the seller's words, not the API's
    english = json_body(call(client, "POST", "/api/blacklist", {**auth, "Accept-Language": "en"}, {"nick": " "}))
    assert list(english["error"]["fields"].values()) == ["enter the buyer's nick or the order number"]


# -- stats and subscription ----------------------------------------------------------------------------------------
def test_stats_fold_hour_buckets_into_days_and_count_the_rest_per_day(client, seller, clock, auth):
    now = clock.now()  # 2026-11-11 10:00 market time
    stats.bump(seller, stats.hour_bucket("2026-11-10", 9), {"posts": 3, "write_failures": 1}, now=now)
    stats.bump(seller, stats.hour_bucket("2026-11-10", 21), {"posts": 2}, now=now)
    stats.bump(seller, stats.hour_bucket("2026-11-11", 8), {"posts": 4}, now=now)
    stats.bump(seller, "2026-11-10", {"skipped_refunded": 2, "failed": 1, "rating_good": 5, "rating_bad": 1}, now=now)
    stats.bump(seller, "2026-11-11", {"expired": 1, "skipped_blacklisted": 1}, now=now)
    stats.bump(seller, "2026-11-01", {"failed": 9}, now=now)
    response = client.http.get("/api/stats?days=3", headers=auth)
    assert response.status_code == 200
    body = json_body(response)
    assert [d["day"] for d in body["days"]] == ["2026-11-09", "2026-11-10", "2026-11-11"]
    nov9, nov10, nov11 = body["days"]
    assert nov9["posted"] == 0 and nov9["ratings"] == {"good": 0, "neutral": 0, "bad": 0}
    assert (nov10["posted"], nov10["failed"], nov10["skipped"]["refunded"]) == (5, 1, 2)
    assert nov10["ratings"] == {"good": 5, "neutral": 0, "bad": 1}
    assert (nov11["posted"], nov11["expired"], nov11["skipped"]["blacklisted"]) == (4, 1, 1)
    totals = body["totals"]
    assert (totals["posted"], totals["failed"], totals["expired"]) == (9, 1, 1)
    assert json_body(client.http.get("/api/stats", headers=auth))["days"][0]["day"] == "2026-10-13"


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4),
            st.one_of(st.none(), st.integers(min_value=0, max_value=23)),
            st.integers(min_value=0, max_value=50),
        ),
        max_size=30,
    )
)
def test_a_days_posts_are_the_sum_of_its_hours_and_other_days_are_ignored(buckets):
    from datetime import date

    first = date(2026, 11, 1)
    rows = []
    for offset, hour, n in buckets:
        day = (first + timedelta(days=offset - 1)).isoformat()
        key = day if hour is None else f"{day}T{hour:02d}"
        rows.append((key, {"posts": n, "failed": n}))
    folded = day_stats(first, first + timedelta(days=2), rows)
    assert [d.day for d in folded] == [first + timedelta(days=i) for i in range(3)]
    for d in folded:
        offset = (d.day - first).days + 1
        assert d.posted == sum(n for o, h, n in buckets if o == offset and h is not None)
        assert d.failed == sum(n for o, h, n in buckets if o == offset and h is None)


def test_stats_validates_days(client, auth):
    for query in ("days=0", "days=91", "days=many"):
        response = client.http.get(f"/api/stats?{query}", headers=auth)
        assert response.status_code == 400 and "days" in json_body(response)["error"]["fields"], query


def test_subscription_shows_plan_paid_until_features_and_days_left(client, seller, clock, auth):
    body = json_body(client.http.get("/api/subscription", headers=auth))
    assert body["plan"] == "FW_GOODS-1000000-2" and body["plan_name"] == "专业版"
    english = json_body(client.http.get("/api/subscription", headers={**auth, "Accept-Language": "en"}))
    assert english["plan_name"] == "Pro plan"  # the English page names the plan in English, never by its code
    assert body["active"] is True and body["days_left"] == 30 and body["status"] == "active"
    assert body["paid_until"] == (clock.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set(body["features"]) == {"immediate", "delay", "after_buyer", "auto_explain", "auto_blacklist"}
    assert body["shop"] == "test_shop" and body["hourly_cap"] == 300
    clock.advance(29.5 * 86400)
    assert json_body(client.http.get("/api/subscription", headers=session(seller, clock.now())))["days_left"] == 1


def test_a_lapsed_seller_has_no_days_left(client, clock, aws):
    lapsed = make_seller(clock.now(), user_id="2200000003", nick="lapsed_shop", paid_days=0)
    body = json_body(client.http.get("/api/subscription", headers=session(lapsed, clock.now())))
    assert (body["active"], body["days_left"], body["paid_until"]) == (False, 0, None)


# -- the OpenAPI document ------------------------------------------------------------------------------------------
def test_the_openapi_document_lists_every_api_route_of_the_app(client):
    from app import app

    response = client.http.get("/api/openapi.json")
    assert response.status_code == 200
    doc = json_body(response)
    assert doc["openapi"].startswith("3.")
    app_routes = {(m.lower(), p) for p, methods in app.routes.items() if p.startswith("/api") for m in methods}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert app_routes == documented


def test_every_schema_reference_in_the_document_resolves(client):
    doc = json_body(client.http.get("/api/openapi.json"))
    text = json.dumps(doc)
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs and refs <= set(doc["components"]["schemas"])
    tasks_get = doc["paths"]["/api/tasks"]["get"]
    assert {p["name"] for p in tasks_get["parameters"]} == {"state", "from", "to", "cursor", "limit"}
    assert "fields" in doc["components"]["schemas"]["ErrorDetail"]["properties"]


# -- the dashboard page --------------------------------------------------------------------------------------------
def test_the_dashboard_is_one_self_contained_page_under_a_strict_policy(client):
    import base64
    import hashlib
    import re

    response = client.http.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.body.decode()
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"

"""The seller's group robots end to end: set up through the API (keys encrypted, never shown back), test-sent, and
fed by the inbox through the minute sweep — against the sandbox's DingTalk and WeCom robots over HTTP on 127.0.0.1,
which check signatures, timestamps and the 20-a-minute limit as the real ones document."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest

from chalicelib.marketplace.robots import Credential, RobotClient, RobotRefused
from chalicelib.services.alerts.alerts import alert
from chalicelib.store import sellers
from sandbox.lambda_driver import scheduled_event
from sandbox.market import SandboxMarketplace
from tests.helpers import json_body, make_seller
from tests.integration.test_seller_api import call, session

DING_TOKEN = "d1ngt0kend1ngt0kend1ngt0ken0001"
DING_SECRET = "SECabcdef0123456789abcdef0123456789"
WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2bbbb5aaa"
DING_URL = f"https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}"
WECOM_URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"


@pytest.fixture
def robots(aws, clock, monkeypatch):
    """The sandbox's robots on the test clock, and the app pointed at them (plain HTTP, allowed only locally)."""
    from sandbox.stack import rebind_app

    market = SandboxMarketplace("12345678", "app-secret-for-tests", clock.now)
    base = market.start()
    monkeypatch.setenv("HAOPING_DINGTALK_ROBOT_URL", base + "/robot/send")
    monkeypatch.setenv("HAOPING_WECOM_ROBOT_URL", base + "/cgi-bin/webhook/send")
    monkeypatch.setenv("HAOPING_ROBOTS_LOCAL_HTTP", "1")
    rebind_app()
    yield market.robots
    market.stop()


@pytest.fixture
def seller(aws, clock):
    return make_seller(clock.now())


@pytest.fixture
def auth(seller, clock):
    return session(seller, clock.now())


def set_both(client, auth) -> None:
    ding = {"channel": "dingtalk", "webhook": DING_URL, "secret": DING_SECRET}
    assert call(client, "PUT", "/api/robots", auth, ding).status_code == 200
    response = call(client, "PUT", "/api/robots", auth, {"channel": "wecom", "webhook": WECOM_URL})
    assert response.status_code == 200, response.body


def sweep(client, clock) -> dict:
    return client.lambda_.invoke("sweep", scheduled_event(clock.now())).payload


def bad_rating(seller: str, tid: str, clock) -> None:
    alert(
        seller,
        "buyer_rating_bad",
        f"A buyer rated trade {tid} bad.",
        now=clock.now(),
        detail={"tid": tid, "result": "bad", "buyer": "t***7"},
        once_key=f"rating:{seller}:{tid}",
    )


# -- set-up ----------------------------------------------------------------------------------------------------------
def test_robot_keys_are_kept_encrypted_and_never_shown_back(client, seller, auth, robots):
    set_both(client, auth)
    shown = json_body(client.http.get("/api/robots", headers=auth))
    assert [r["channel"] for r in shown["robots"]] == ["dingtalk", "wecom"]
    assert shown["robots"][0]["hint"] == f"…{DING_TOKEN[-4:]}"
    stored = json.dumps(sellers.get(seller).robots)
    for secret in (DING_TOKEN, DING_SECRET, WECOM_KEY):
        assert secret not in json.dumps(shown) and secret not in stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "dingtalk", "webhook": DING_URL.replace("https", "http"), "secret": DING_SECRET}, "webhook"),
        (
            {
                "channel": "dingtalk",
                "webhook": DING_URL.replace("oapi.dingtalk.com", "evil.example"),
                "secret": DING_SECRET,
            },
            "webhook",
        ),
        ({"channel": "dingtalk", "webhook": DING_URL}, "secret"),
        ({"channel": "dingtalk", "webhook": DING_URL, "secret": "not-a-sec-secret"}, "secret"),
        ({"channel": "wecom", "webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=%%"}, "webhook"),
        ({"channel": "wecom", "webhook": WECOM_URL.replace("/send", "/upload_media")}, "webhook"),
    ],
)
def test_only_official_robot_addresses_and_signed_dingtalk_robots_are_taken(client, seller, auth, robots, body, field):
    response = call(client, "PUT", "/api/robots", auth, body)
    assert response.status_code == 400
    assert json_body(response)["error"]["code"] == "invalid_robot"
    assert field in json_body(response)["error"]["fields"]
    assert sellers.get(seller).robots is None


def test_test_message_reaches_both_robots_signed(client, auth, robots):
    robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    robots.add_wecom(WECOM_KEY)
    set_both(client, auth)
    for channel in ("dingtalk", "wecom"):
        response = call(client, "POST", "/api/robots/test", auth, {"channel": channel})
        assert json_body(response)["result"] == "sent", response.body
    assert robots.robot("dingtalk", DING_TOKEN).received[0].startswith("【test_shop】测试消息")
    assert len(robots.robot("wecom", WECOM_KEY).received) == 1


def test_a_wrong_signing_secret_is_refused_and_the_page_is_told(client, auth, robots):
    robots.add_dingtalk(DING_TOKEN, "SEC" + "0" * 32)
    set_both(client, auth)
    response = call(client, "POST", "/api/robots/test", auth, {"channel": "dingtalk"})
    assert json_body(response)["result"] == "refused"
    assert json_body(response)["robot"]["refused"].startswith("310000")
    assert robots.robot("dingtalk", DING_TOKEN).refused == [310000]


def test_a_stale_timestamp_is_refused_by_the_robot(robots, clock):
    from chalicelib.container import container

    robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    late = RobotClient(
        dingtalk_url=container().settings.dingtalk_robot_url,
        wecom_url=container().settings.wecom_robot_url,
        now=lambda: clock.now() - timedelta(hours=1, minutes=1),
    )
    with pytest.raises(RobotRefused) as refused:
        late.send(Credential("dingtalk", DING_TOKEN, DING_SECRET), "hello")
    assert refused.value.code == 310000


def test_an_unknown_wecom_key_is_an_invalid_webhook(client, auth, robots):
    set_both(client, auth)  # the sandbox knows no such key
    response = call(client, "POST", "/api/robots/test", auth, {"channel": "wecom"})
    assert json_body(response)["robot"]["refused"].startswith("93000")


# -- delivery through the inbox --------------------------------------------------------------------------------------
def test_a_bad_rating_reaches_the_inbox_and_each_robot_once(client, seller, auth, robots, clock):
    robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    robots.add_wecom(WECOM_KEY)
    set_both(client, auth)
    bad_rating(seller, "5001", clock)
    bad_rating(seller, "5001", clock)  # a redelivered rating alerts once
    assert sweep(client, clock)["robot_messages"] == 2
    for _ in range(3):
        clock.advance(60)
        assert sweep(client, clock)["robot_messages"] == 0
    assert robots.robot("dingtalk", DING_TOKEN).received == [
        "【test_shop】买家给了订单 5001 差评（t***7），请在中差评中心查看并解释。"
    ]
    assert len(robots.robot("wecom", WECOM_KEY).received) == 1
    inbox = json_body(client.http.get("/api/inbox", headers=auth))
    assert inbox["unread"] == 1 and inbox["items"][0]["robots_sent"] == ["dingtalk", "wecom"]


def test_a_burst_goes_out_as_one_digest_within_the_robots_limits(client, seller, auth, robots, clock):
    robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    robots.add_wecom(WECOM_KEY)
    set_both(client, auth)
    for i in range(30):
        bad_rating(seller, str(6000 + i), clock)
    assert sweep(client, clock)["robot_messages"] == 2
    digest = robots.robot("dingtalk", DING_TOKEN).received
    assert len(digest) == 1 and "30 条新提醒" in digest[0] and "另有 20 条" in digest[0]
    assert len(robots.robot("wecom", WECOM_KEY).received[0].encode()) <= 2048
    assert robots.robot("dingtalk", DING_TOKEN).refused == robots.robot("wecom", WECOM_KEY).refused == []


def test_a_throttled_robot_is_left_alone_ten_minutes_then_gets_a_digest(client, seller, auth, robots, clock):
    robot = robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    call(client, "PUT", "/api/robots", auth, {"channel": "dingtalk", "webhook": DING_URL, "secret": DING_SECRET})
    robot.punished_until = clock.now() + timedelta(minutes=10)  # someone else used up this robot's minute
    bad_rating(seller, "7001", clock)
    assert sweep(client, clock)["robot_messages"] == 0
    assert robot.refused == [130101]
    shown = json_body(client.http.get("/api/robots", headers=auth))["robots"][0]
    assert shown["paused_until"] is not None and shown["refused"] is None
    bad_rating(seller, "7002", clock)
    clock.advance(5 * 60)
    assert sweep(client, clock)["robot_messages"] == 0 and robot.refused == [130101]  # not even tried
    clock.advance(6 * 60)
    assert sweep(client, clock)["robot_messages"] == 1
    assert "2 条新提醒" in robot.received[0]


def test_quiet_hours_hold_the_robots_not_the_inbox(client, seller, auth, robots, clock):
    robot = robots.add_wecom(WECOM_KEY)
    call(client, "PUT", "/api/robots", auth, {"channel": "wecom", "webhook": WECOM_URL})
    hour = (clock.now() + timedelta(hours=8)).hour  # Beijing hour now
    patch = {"alerts": {"quiet_from": hour, "quiet_to": (hour + 2) % 24}}
    assert call(client, "PUT", "/api/settings", auth, patch).status_code == 200
    bad_rating(seller, "8001", clock)
    assert sweep(client, clock)["robot_messages"] == 0
    assert json_body(client.http.get("/api/inbox", headers=auth))["unread"] == 1
    clock.advance(2 * 3600)
    assert sweep(client, clock)["robot_messages"] == 1 and len(robot.received) == 1


def test_events_the_seller_did_not_choose_stay_in_the_inbox(client, seller, auth, robots, clock):
    robot = robots.add_wecom(WECOM_KEY)
    call(client, "PUT", "/api/robots", auth, {"channel": "wecom", "webhook": WECOM_URL})
    assert call(client, "PUT", "/api/settings", auth, {"alerts": {"robot_events": ["expiring"]}}).status_code == 200
    bad_rating(seller, "9001", clock)
    assert sweep(client, clock)["robot_messages"] == 0 and robot.received == []
    items = json_body(client.http.get("/api/inbox", headers=auth))["items"]
    assert items[0]["event"] == "rating" and items[0]["robots_pending"] == []


def test_removing_a_robot_stops_its_deliveries(client, seller, auth, robots, clock):
    robot = robots.add_wecom(WECOM_KEY)
    call(client, "PUT", "/api/robots", auth, {"channel": "wecom", "webhook": WECOM_URL})
    bad_rating(seller, "9101", clock)
    response = call(client, "DELETE", "/api/robots", auth, {"channel": "wecom"})
    assert json_body(response)["robots"] == []
    assert sweep(client, clock)["robot_messages"] == 0 and robot.received == []
    assert call(client, "DELETE", "/api/robots", auth, {"channel": "wecom"}).status_code == 404


# -- the inbox ---------------------------------------------------------------------------------------------------
def test_the_inbox_counts_unread_and_marks_read(client, seller, auth, clock):
    for tid in ("1", "2", "3"):
        bad_rating(seller, tid, clock)
        clock.advance(1)
    page = json_body(client.http.get("/api/inbox?limit=2", headers=auth))
    assert page["unread"] == 3 and len(page["items"]) == 2 and page["next_cursor"]
    rest = json_body(client.http.get(f"/api/inbox?limit=2&cursor={quote(page['next_cursor'])}", headers=auth))
    assert [i["message"][:9] for i in rest["items"]] == ["买家给了订单 1 "]
    marked = json_body(call(client, "POST", "/api/inbox/read", auth, {"ids": [page["items"][0]["id"]]}))
    assert marked == {"marked": 1, "unread": 2}
    assert json_body(call(client, "POST", "/api/inbox/read", auth, {"all": True})) == {"marked": 2, "unread": 0}
    assert json_body(client.http.get("/api/inbox?unread=true", headers=auth))["items"] == []
    assert call(client, "POST", "/api/inbox/read", auth, {}).status_code == 400


def test_another_sellers_inbox_items_cannot_be_marked(client, seller, auth, clock):
    other = make_seller(clock.now(), user_id="2200000002", nick="other_shop")
    bad_rating(other, "42", clock)
    theirs = json_body(client.http.get("/api/inbox", headers=session(other, clock.now())))["items"][0]["id"]
    assert json_body(call(client, "POST", "/api/inbox/read", auth, {"ids": [theirs]}))["marked"] == 0
    assert json_body(client.http.get("/api/inbox", headers=session(other, clock.now())))["unread"] == 1


# -- the operator's view -------------------------------------------------------------------------------------------
def test_the_operator_sees_a_refusing_robot_and_unread_alerts_never_its_key(
    client, seller, auth, robots, clock, capsys
):
    from chalicelib.ops import main

    robots.add_dingtalk(DING_TOKEN, "SEC" + "1" * 32)  # the seller typed another secret than the robot's
    set_both(client, auth)
    call(client, "POST", "/api/robots/test", auth, {"channel": "dingtalk"})
    bad_rating(seller, "9901", clock)
    capsys.readouterr()  # the requests' log lines so far
    assert main(["--user", "alice", "--json", "show-seller", seller]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["robots"]["dingtalk"]["refused"].startswith("310000")
    assert shown["robots"]["wecom"]["hint"] == f"…{WECOM_KEY[-4:]}" and shown["unread_alerts"] == 1
    for secret in (DING_TOKEN, DING_SECRET, WECOM_KEY, '"ct"'):
        assert secret not in out


# -- what a delivery writes ------------------------------------------------------------------------------------------
@pytest.fixture
def outbox_updates(monkeypatch):
    """Every UpdateItem of an inbox item: the attributes it names."""
    from chalicelib.store.models import Outbox

    seen: list[str] = []
    real = Outbox.update

    def update(self, actions, condition=None, **kwargs):
        seen.append(" ".join(sorted(str(a.values[0]) for a in actions)))
        return real(self, actions, condition=condition, **kwargs)

    monkeypatch.setattr(Outbox, "update", update)
    return seen


def test_a_delivery_to_one_robot_is_two_writes_and_never_moves_the_index_entry_for_its_claim(
    client, seller, auth, robots, clock, outbox_updates
):
    from chalicelib.store import outbox

    robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    call(client, "PUT", "/api/robots", auth, {"channel": "dingtalk", "webhook": DING_URL, "secret": DING_SECRET})
    bad_rating(seller, "8001", clock)
    outbox_updates.clear()
    assert sweep(client, clock)["robot_messages"] == 1
    # The claim sets only its own attribute; the done write takes the item out of the index at once.
    assert outbox_updates[0] == "robot_claimed_until"
    assert len(outbox_updates) == 2 and "robot_due_at" in outbox_updates[1] and "robots_pending" in outbox_updates[1]
    (item,) = outbox.recent(seller)
    assert item.robot_due_at is None and item.robot_shard is None and item.robot_claimed_until is None
    assert item.robots_sent == {"dingtalk"} and not item.robots_pending


def test_an_item_for_two_robots_leaves_the_index_when_the_second_took_it(
    client, seller, auth, robots, clock, outbox_updates
):
    from chalicelib.store import outbox

    robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    robots.add_wecom(WECOM_KEY)
    set_both(client, auth)
    bad_rating(seller, "8002", clock)
    assert sweep(client, clock)["robot_messages"] == 2
    (item,) = outbox.recent(seller)
    assert item.robots_sent == {"dingtalk", "wecom"} and item.robot_due_at is None and item.robot_shard is None


def test_a_claim_that_died_holds_its_item_until_it_lapses(client, seller, auth, robots, clock):
    from chalicelib.services.alerts.robot_alerts import CLAIM
    from chalicelib.store import outbox

    robot = robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    call(client, "PUT", "/api/robots", auth, {"channel": "dingtalk", "webhook": DING_URL, "secret": DING_SECRET})
    bad_rating(seller, "8003", clock)
    (item,) = outbox.recent(seller)
    assert outbox.claim(item, until=clock.now() + CLAIM, now=clock.now())  # its invocation dies here
    assert not outbox.claim(outbox.get(seller, item.ts_id), until=clock.now() + CLAIM, now=clock.now())
    clock.advance(60)
    assert sweep(client, clock)["robot_messages"] == 0 and robot.received == []
    clock.advance(int(CLAIM.total_seconds()))
    assert sweep(client, clock)["robot_messages"] == 1 and len(robot.received) == 1


def test_a_throttled_robot_gets_the_same_alert_once_its_pause_is_over(client, seller, auth, robots, clock):
    robot = robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    call(client, "PUT", "/api/robots", auth, {"channel": "dingtalk", "webhook": DING_URL, "secret": DING_SECRET})
    robot.punished_until = clock.now() + timedelta(minutes=10)
    bad_rating(seller, "9001", clock)
    assert sweep(client, clock)["robot_messages"] == 0 and robot.refused == [130101]
    clock.advance(11 * 60)  # nothing else came: the retry carries the very same alert
    assert sweep(client, clock)["robot_messages"] == 1
    assert len(robot.received) == 1 and "9001" in robot.received[0]


def test_an_unreachable_robot_is_sent_the_alert_again_when_it_is_back(client, seller, auth, robots, clock, monkeypatch):
    from chalicelib.marketplace import robots as robot_client

    robot = robots.add_dingtalk(DING_TOKEN, DING_SECRET)
    call(client, "PUT", "/api/robots", auth, {"channel": "dingtalk", "webhook": DING_URL, "secret": DING_SECRET})
    real = robot_client.RobotClient.send

    def down(self, credential, text):
        raise robot_client.RobotUnavailable("the robot answered HTTP 502")

    monkeypatch.setattr(robot_client.RobotClient, "send", down)
    bad_rating(seller, "9002", clock)
    assert sweep(client, clock)["robot_messages"] == 0
    monkeypatch.setattr(robot_client.RobotClient, "send", real)
    for _ in range(3):  # the back-off: 1, then 2 minutes
        clock.advance(60)
        sweep(client, clock)
    assert len(robot.received) == 1 and "9002" in robot.received[0]

"""The write guard, branch by branch, through the real worker (SQS event → ``worker`` function → sandbox
marketplace): kill switches, dry run, content lint, the hourly cap and the circuit breaker."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import boto3
import pytest

from chalicelib.container import container
from chalicelib.runtime import CACHE_TTLS
from chalicelib.services.reviews.schedule_review import IDENTITY_LINT_REASON
from chalicelib.store import audit, control, outbox, stats, tasks
from chalicelib.store.models import Task
from sandbox.lambda_driver import scheduled_event, sqs_event
from sandbox.stack import rebind_app
from tests.helpers import add_market_trade, json_body, make_seller, push, set_seller, trade_message

PLAN = "FW_GOODS-1000000-2"
TEMPLATE = "感谢惠顾，欢迎再次光临！"


def seed(client, clock, market, seller_id: str, tid: int, *, nick: str = "test_shop", **extra) -> None:
    """The trade exists on the marketplace and its TradeSuccess message reaches the app."""
    add_market_trade(market, clock, str(tid), seller_nick=nick)
    response = push(client, [trade_message(seller_id, str(tid), clock.now(), seller_nick=nick, **extra)], clock.now())
    assert json_body(response)["results"][0]["status"] == "ok"


def sweep_and_work(client, aws, clock) -> dict:
    """One EventBridge minute: the sweep queues what is due, the worker gets the SQS batch."""
    swept = client.lambda_.invoke("sweep", scheduled_event(clock.now())).payload
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    if got:
        client.lambda_.invoke("worker", sqs_event(got, aws["queue_url"]))
        aws["sqs"].delete_message_batch(
            QueueUrl=aws["queue_url"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    return {**swept, "delivered": len(got)}


def state_of(seller_id: str, tid: int) -> str:
    task = tasks.get(seller_id, str(tid))
    return task.state if task.reason is None else f"{task.state}:{task.reason}"


def set_settings(seller_id: str, now, **changes) -> None:
    set_seller(seller_id, now, settings=changes)


def guard_records(seller_id: str) -> list:
    return [r for r in audit.trail(seller_id) if r.action in ("taobao.traderate.add", "seller.pause")]


@pytest.fixture
def other_shop(market, clock):
    """A second seller, to show that one seller's switches leave the other alone."""
    account = market.add_seller("other_shop")
    return make_seller(clock.now(), user_id=account.user_id, nick="other_shop", access_token=account.access_token)


# -- kill switches --------------------------------------------------------------------------------------------


def test_the_global_kill_switch_stops_the_sweep_and_the_jobs_already_queued(client, aws, clock, market, shop):
    seed(client, clock, market, shop, 3900000000000301)
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))  # queued just before the operator acts
    control.set_kill_global(True, now=clock.now())
    got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10)["Messages"]
    client.lambda_.invoke("worker", sqs_event(got, aws["queue_url"]))
    assert state_of(shop, 3900000000000301) == "scheduled:kill_switch"
    assert tasks.get(shop, "3900000000000301").attempts == 0  # waiting spends no attempt
    seed(client, clock, market, shop, 3900000000000302)
    clock.advance(3600)
    assert client.lambda_.invoke("sweep", scheduled_event(clock.now())).payload == {
        "queued": 0,
        "paused": "kill_switch",
        "robot_messages": 0,  # the kill switch stops marketplace writes; alerts to the seller's robots go on
    }
    assert market.calls["taobao.traderate.add"] == 0

    control.set_kill_global(False, now=clock.now())
    sweep_and_work(client, aws, clock)
    assert state_of(shop, 3900000000000301) == state_of(shop, 3900000000000302) == "posted"


def test_a_sellers_kill_switch_stops_only_that_seller(client, aws, clock, market, shop, other_shop):
    control.set_kill_seller(shop, True, now=clock.now())
    seed(client, clock, market, shop, 3900000000000311)
    seed(client, clock, market, other_shop, 3900000000000312, nick="other_shop")
    clock.advance(60)
    sweep_and_work(client, aws, clock)
    assert state_of(shop, 3900000000000311) == "scheduled:kill_switch"
    assert state_of(other_shop, 3900000000000312) == "posted"
    assert market.post_counts(3900000000000311) == 0

    control.set_kill_seller(shop, False, now=clock.now())
    clock.advance(10 * 60)
    sweep_and_work(client, aws, clock)
    assert state_of(shop, 3900000000000311) == "posted"


def test_a_kill_switch_set_from_another_container_holds_within_a_minute(client, aws, clock, market, shop, monkeypatch):
    assert CACHE_TTLS["control"] <= 60
    control.read_switches()  # this container has the switches cached: all off
    # The operator's command runs elsewhere: this container's cache is not told.
    boto3.client("dynamodb", region_name=container().settings.region).update_item(
        TableName=container().settings.table("Control"),
        Key={"key": {"S": control.SWITCHES}},
        UpdateExpression="ADD kill_sellers :s",
        ExpressionAttributeValues={":s": {"SS": [shop]}},
    )
    seed(client, clock, market, shop, 3900000000000321)
    clock.advance(60)
    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + CACHE_TTLS["control"] + 1)
    sweep_and_work(client, aws, clock)
    assert state_of(shop, 3900000000000321) == "scheduled:kill_switch"
    assert market.post_counts(3900000000000321) == 0


# -- dry run --------------------------------------------------------------------------------------------------


@pytest.fixture(params=["stage", "seller_setting", "control_set"])
def dry_run_source(request, monkeypatch, clock, shop):
    """Each way a write can be in dry run: the whole stage, the seller's own setting, the operator's set."""
    if request.param == "stage":
        monkeypatch.setenv("HAOPING_DRY_RUN", "1")
        rebind_app()
    elif request.param == "seller_setting":
        set_settings(shop, clock.now(), dry_run=True)
    else:
        control.set_dry_run_seller(shop, True, now=clock.now())
    return request.param


def test_dry_run_records_the_exact_text_and_posts_nothing(client, aws, clock, market, shop, dry_run_source):
    seed(client, clock, market, shop, 3900000000000331)
    content = tasks.get(shop, "3900000000000331").content
    clock.advance(60)
    sweep_and_work(client, aws, clock)

    assert state_of(shop, 3900000000000331) == "skipped:dry_run"
    assert market.calls["taobao.traderate.add"] == 0
    [record] = guard_records(shop)
    assert (record.actor, record.target, record.result) == ("worker", "3900000000000331", "dry_run")
    assert record.detail == {"would_post": content, "result": "good"}
    [day] = stats.read_range(shop, "2026-11-11", "2026-11-11")
    assert day.skipped_dry_run == 1 and not day.posts


def test_the_kill_switch_is_checked_before_dry_run(client, aws, clock, market, shop):
    set_settings(shop, clock.now(), dry_run=True)
    control.set_kill_seller(shop, True, now=clock.now())
    seed(client, clock, market, shop, 3900000000000332)
    clock.advance(60)
    sweep_and_work(client, aws, clock)
    assert state_of(shop, 3900000000000332) == "scheduled:kill_switch"
    assert guard_records(shop) == []


# -- content lint ---------------------------------------------------------------------------------------------


def test_content_the_rules_now_ban_fails_with_an_alert_and_is_never_posted(client, aws, clock, market, shop):
    set_settings(shop, clock.now(), templates=[TEMPLATE])
    seed(client, clock, market, shop, 3900000000000341)
    # Overnight the marketplace bans a word the scheduled text contains.
    control.write_rules_override({"version": "2025.1-ban", "banned_words": ["光临"]}, now=clock.now())
    clock.advance(60)
    sweep_and_work(client, aws, clock)

    assert state_of(shop, 3900000000000341) == "failed:lint: content failed lint: banned_word"
    assert market.calls["taobao.traderate.add"] == 0
    [notice] = outbox.recent(shop)
    assert (notice.kind, notice.message) == (
        "content_rejected",
        "评价内容未通过平台内容检查，已暂停发布，请修改评价模板。",
    )
    [record] = guard_records(shop)
    assert (record.result, record.detail) == ("lint_failed", {"reason": "content failed lint: banned_word"})


def test_dry_run_comes_before_lint(client, aws, clock, market, shop):
    set_settings(shop, clock.now(), templates=[TEMPLATE], dry_run=True)
    seed(client, clock, market, shop, 3900000000000342)
    control.write_rules_override({"version": "2025.1-ban", "banned_words": ["光临"]}, now=clock.now())
    clock.advance(60)
    sweep_and_work(client, aws, clock)
    assert state_of(shop, 3900000000000342) == "skipped:dry_run"


@pytest.mark.parametrize("identifier", ["tb_buyer_77", "AAH3900000000000351"])
def test_content_naming_the_buyer_fails_when_scheduled_and_is_never_stored(
    client, aws, clock, market, shop, identifier
):
    set_settings(shop, clock.now(), templates=["{item_title}已签收，感谢惠顾！"])
    seed(client, clock, market, shop, 3900000000000351, item_title=f"定制刻字 {identifier}")

    task = tasks.get(shop, "3900000000000351")
    assert (task.state, task.reason, task.content) == ("failed", IDENTITY_LINT_REASON, None)
    assert identifier not in json.dumps(Task.get(shop, "3900000000000351").attribute_values, default=str)
    assert [n.kind for n in outbox.recent(shop)] == ["content_rejected"]
    [record] = guard_records(shop)
    assert (record.actor, record.result) == ("scheduler", "lint_failed")
    clock.advance(60)
    assert sweep_and_work(client, aws, clock)["delivered"] == 0
    assert market.post_counts(3900000000000351) == 0


# -- hourly cap and circuit breaker ---------------------------------------------------------------------------


def test_capped_work_waits_for_the_next_hour_and_the_seller_is_not_paused(client, aws, clock, market, shop):
    control.write_rules_override({"version": "2025.1-cap", "plans": {PLAN: {"hourly_cap": 2}}}, now=clock.now())
    tids = [3900000000000361, 3900000000000362, 3900000000000363]
    for tid in tids:
        seed(client, clock, market, shop, tid)
    clock.advance(60)
    sweep_and_work(client, aws, clock)

    outcomes = sorted(state_of(shop, tid) for tid in tids)
    assert outcomes == ["posted", "posted", "scheduled:capped"]
    assert sum(market.post_counts(tid) for tid in tids) == 2
    [capped] = [tasks.get(shop, str(tid)) for tid in tids if state_of(shop, tid) == "scheduled:capped"]
    next_hour = (clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).timestamp()
    assert capped.due_at == next_hour and capped.attempts == 0  # the next market hour, no attempt spent
    # Reaching the cap says the shop is busy, not that something is wrong: no pause, no alert.
    assert shop not in control.read_switches(fresh=True).kill_sellers
    assert "seller_paused" not in [n.kind for n in outbox.recent(shop)]
    assert not [r for r in audit.trail(shop) if r.action == "seller.pause"]
    [hour] = [b for b in stats.read_range(shop, "2026-11-11T00", "2026-11-11T23") if "T" in b.bucket]
    assert hour.posts == 2  # the refused write's reservation was given back

    clock.advance(3600)
    sweep_and_work(client, aws, clock)
    assert all(state_of(shop, tid) == "posted" for tid in tids)


def test_a_failure_spike_trips_the_breaker_and_pauses_the_seller(client, aws, clock, market, shop):
    rules = {"version": "2025.1-breaker", "breaker": {"min_sample": 2, "failure_rate_pause": 0.5}}
    control.write_rules_override(rules, now=clock.now())
    market.faults.set("taobao.traderate.add", error_rate=1.0, error_code=15, error_sub_code="isv.item-not-rateable")
    for tid in (3900000000000371, 3900000000000372):
        seed(client, clock, market, shop, tid)
    clock.advance(60)
    sweep_and_work(client, aws, clock)
    assert state_of(shop, 3900000000000371) == "failed:isv.item-not-rateable"
    assert shop not in control.read_switches(fresh=True).kill_sellers

    market.faults.clear()
    seed(client, clock, market, shop, 3900000000000373)
    clock.advance(60)
    sweep_and_work(client, aws, clock)
    assert state_of(shop, 3900000000000373) == "scheduled:breaker_open"
    assert market.post_counts(3900000000000373) == 0
    assert shop in control.read_switches(fresh=True).kill_sellers
    assert "seller_paused" in [n.kind for n in outbox.recent(shop)]
    pause = next(r for r in audit.trail(shop) if r.action == "seller.pause")
    assert (pause.result, pause.detail) == ("breaker_open", {"reason": "2 of the last 2 writes failed"})

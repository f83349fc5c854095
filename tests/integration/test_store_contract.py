"""The store's contract, run on moto in-process and on moto's HTTP server (any DynamoDB-compatible endpoint
works the same way through the standard AWS_ENDPOINT_URL): nothing may depend on a mock's quirks."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.container import container
from chalicelib.domain.task_state import Event, State
from chalicelib.store import audit, control, stats, tasks
from chalicelib.store.models import Task


@pytest.fixture(scope="module")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server._server.server_address[:2]
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["in-process", "moto-server"])
def aws_endpoint(request):
    if request.param == "in-process":
        return None
    return request.getfixturevalue("moto_server")


def new_task(now, tid="1001", state=State.SCHEDULED, due=None):
    return tasks.NewTask(
        seller_id="s1",
        tid=tid,
        oid=None,
        trade_end=now,
        due_at=due or now,
        state=state,
        content="好评",
        template_index=0,
        item_title=None,
        buyer_hash="ab" * 32,
        buyer_uid_hash=None,
        buyer_masked="t***1",
    )


def test_create_is_once_per_trade(aws, clock):
    now = clock.now()
    assert tasks.create(new_task(now), now=now, shards=4) is True
    assert tasks.create(new_task(now), now=now, shards=4) is False
    assert tasks.get("s1", "1001").state == "scheduled"


def test_a_tasks_buyer_hashes_are_stored_as_their_32_bytes_and_read_back_as_hex(aws, clock):
    now = clock.now()
    digest = hashlib.sha256(b"buyer").hexdigest()
    tasks.create(replace(new_task(now), buyer_hash=digest, buyer_uid_hash=digest[::-1]), now=now, shards=4)
    raw = (
        container()
        .aws("dynamodb")
        .get_item(TableName=Task.Meta.table_name, Key={"seller_id": {"S": "s1"}, "tid": {"S": "1001"}})["Item"]
    )
    assert raw["buyer_hash"] == {"B": bytes.fromhex(digest)} and len(raw["buyer_uid_hash"]["B"]) == 32
    stored = tasks.get("s1", "1001")
    assert (stored.buyer_hash, stored.buyer_uid_hash) == (digest, digest[::-1])


def test_due_query_sees_only_due_tasks_in_their_shard(aws, clock):
    now = clock.now()
    tasks.create(new_task(now, "1"), now=now, shards=4)
    tasks.create(new_task(now, "2", due=now + timedelta(hours=1)), now=now, shards=4)
    tasks.create(new_task(now, "3", state=State.HELD), now=now, shards=4)
    found = {key for shard in range(4) for key in tasks.due_keys(shard, now)}
    assert found == {("s1", "1")}
    shard = tasks.due_shard("s1", "1", 4)
    assert list(tasks.due_keys(shard, now)) == [("s1", "1")]


def test_claim_is_exclusive_and_expired_claims_are_due_again(aws, clock):
    now = clock.now()
    tasks.create(new_task(now), now=now, shards=4)
    lease = now + timedelta(minutes=5)
    kw = {"now": now, "shards": 4, "due_at": lease, "require_due": True}
    assert tasks.transition("s1", "1001", Event.CLAIM, **kw) is not None
    assert tasks.transition("s1", "1001", Event.CLAIM, **kw) is None
    later = now + timedelta(minutes=6)
    assert [k for s in range(4) for k in tasks.due_keys(s, later)] == [("s1", "1001")]
    kw2 = {"now": later, "shards": 4, "due_at": later + timedelta(minutes=5), "require_due": True}
    assert tasks.transition("s1", "1001", Event.CLAIM, **kw2) is not None


def test_terminal_states_never_change_and_leave_the_due_index(aws, clock):
    now = clock.now()
    tasks.create(new_task(now), now=now, shards=4)
    tasks.transition("s1", "1001", Event.CLAIM, now=now, shards=4, due_at=now, require_due=True)
    assert tasks.transition("s1", "1001", Event.POST, now=now, shards=4) is not None
    for event in (Event.POST, Event.SKIP, Event.EXPIRE, Event.CLAIM, Event.RETRY_LATER):
        assert tasks.transition("s1", "1001", event, now=now, shards=4, due_at=now) is None
    assert tasks.get("s1", "1001").state == "posted"
    assert [k for s in range(4) for k in tasks.due_keys(s, now + timedelta(days=1))] == []


def test_holds_accumulate_and_release_only_when_all_are_lifted(aws, clock):
    now = clock.now()
    tasks.create(new_task(now), now=now, shards=4)
    tasks.add_hold("s1", "1001", "refund", now=now)
    tasks.add_hold("s1", "1001", "plan_expired", now=now)
    assert tasks.remove_hold("s1", "1001", "refund", now=now, shards=4, due_at=now).state == "held"
    assert tasks.get("s1", "1001").holds == {"plan_expired"}
    tasks.remove_hold("s1", "1001", "plan_expired", now=now, shards=4, due_at=now)
    task = tasks.get("s1", "1001")
    assert task.state == "scheduled" and not task.holds and task.due_at == int(now.timestamp())


def test_record_with_audit_is_one_transaction(aws, clock):
    now = clock.now()
    tasks.create(new_task(now), now=now, shards=4)
    tasks.transition("s1", "1001", Event.CLAIM, now=now, shards=4, due_at=now, require_due=True)
    record = audit.new_record("s1", actor="t", action="a", target="1001", result="ok", detail=None, now=now)
    assert tasks.transition("s1", "1001", Event.POST, now=now, shards=4, audit=record) is not None
    assert [a.ts_id for a in audit.trail("s1")] == [record.ts_id]
    # The task condition fails now (already posted): neither the task nor the audit trail changes.
    again = audit.new_record("s1", actor="t", action="a", target="1001", result="ok", detail=None, now=now)
    assert tasks.transition("s1", "1001", Event.POST, now=now, shards=4, audit=again) is None
    assert len(audit.trail("s1")) == 1


def test_counters_add_atomically_and_return_the_bucket(aws, clock):
    now = clock.now()
    stats.bump("s1", "2026-11-11T10", {"posts": 1}, now=now)
    after = stats.bump("s1", "2026-11-11T10", {"posts": 1, "write_failures": 1}, now=now)
    assert after["posts"] == 2 and after["write_failures"] == 1
    assert [b.bucket for b in stats.read_range("s1", "2026-11-11", "2026-11-11")] == ["2026-11-11T10"]


def test_switches_and_once_markers(aws, clock):
    now = clock.now()
    control.set_kill_seller("s1", True, now=now)
    control.pause_until(now + timedelta(minutes=10), now=now)
    control.pause_until(now + timedelta(minutes=5), now=now)  # never shortens a longer pause
    switches = control.read_switches(fresh=True)
    assert switches.kill_sellers == {"s1"} and switches.paused(now + timedelta(minutes=9))
    assert control.claim_once("once#x", now=now) is True
    assert control.claim_once("once#x", now=now) is False

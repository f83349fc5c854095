"""The sweep queues at most the rules' budget per tick, rotating shards so a backlog drains fairly."""

from __future__ import annotations

import json
from datetime import timedelta

from chalicelib.domain.task_state import State
from chalicelib.store import control, tasks
from sandbox.lambda_driver import scheduled_event


def _due_task(tid: str, now):
    return tasks.NewTask(
        seller_id=f"s{int(tid) % 7}",
        tid=tid,
        oid=None,
        trade_end=now,
        due_at=now,
        state=State.SCHEDULED,
        content="好评",
        template_index=0,
        item_title=None,
        buyer_hash=None,
        buyer_uid_hash=None,
        buyer_masked=None,
    )


def _drain(aws) -> list[str]:
    tids = []
    while got := aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", []):
        tids += [json.loads(m["Body"])["tid"] for m in got]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        aws["sqs"].delete_message_batch(QueueUrl=aws["queue_url"], Entries=entries)
    return tids


def test_a_backlog_is_queued_a_budget_per_tick_and_every_task_gets_its_turn(client, aws, clock):
    now = clock.now()
    backlog = [str(4_000_000 + i) for i in range(40)]
    for tid in backlog:
        tasks.create(_due_task(tid, now), now=now, shards=4)
    # A quarter of a review a second: a budget of 15 jobs a minute.
    control.write_rules_override({"version": "test-budget", "review_capacity_per_second": 0.25}, now=now)

    seen: set[str] = set()
    for _ in range(4):
        clock.advance(60)
        result = client.lambda_.invoke("sweep", scheduled_event(clock.now())).payload
        queued = _drain(aws)
        assert result["queued"] == len(queued) <= 15
        seen |= set(queued)
        # Nothing claimed them, so they stay due; rotation still reaches every shard within the ticks.
    assert seen == set(backlog)


def test_without_a_backlog_everything_due_is_queued_at_once(client, aws, clock):
    now = clock.now()
    for tid in ("4100001", "4100002", "4100003"):
        tasks.create(_due_task(tid, now), now=now, shards=4)
    tasks.create(_due_task("4100004", now + timedelta(hours=1)), now=now, shards=4)
    result = client.lambda_.invoke("sweep", scheduled_event(now)).payload
    assert result["queued"] == 3
    assert sorted(_drain(aws)) == ["4100001", "4100002", "4100003"]

"""Figures 3 and 6: pipeline throughput against a bare put_item loop, and webhook batch latency against a bare
batch_write_item of the same items, both on the same moto backend in the same run."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.counting import DynamoCounter
from bench.items import batch_write, task_item
from bench.stack import REGION, BenchReplay, InProcessStack
from sandbox.market.clock import FakeClock
from sandbox.world import TEMPLATES, SellerSpec, generate, market_midnight

PRO = "FW_GOODS-1000000-2"
THROUGHPUT_TARGET = 0.8
BATCH = 100


def _shops(count: int, trades: int) -> list[SellerSpec]:
    settings = {"templates": TEMPLATES, "template_strategy": "rotate", "mode": "immediate"}
    return [SellerSpec(f"bench_shop_{i}", settings, PRO, trades) for i in range(count)]


def _world(shops: list[SellerSpec], seed: int):
    day = market_midnight(datetime(2026, 11, 11, 12, tzinfo=UTC))
    trades, events = generate(day, shops, seed=seed, rating_rate=0.0, refund_rate=0.0)
    # Every trade has ended by the time the burst arrives: the whole burst is due at once.
    clock = FakeClock(day.astimezone(UTC) + timedelta(days=1, hours=1))
    return day, clock, trades, events


def _scratch_table(ddb, table: str = "haoping-bench-Baseline") -> str:
    if table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "seller_id", "KeyType": "HASH"}, {"AttributeName": "tid", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "seller_id", "AttributeType": "S"},
                {"AttributeName": "tid", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    return table


def put_item_rate(count: int) -> float:
    """Items per second of a bare ``put_item`` loop on the running moto backend (a scratch table)."""
    import boto3

    ddb = boto3.client("dynamodb", region_name=REGION)
    table = _scratch_table(ddb)
    items = [task_item("2200000001", f"39{i:014d}", due_shard=i % 16, due_at=1_794_355_200) for i in range(count)]
    started = time.perf_counter()
    for item in items:
        ddb.put_item(TableName=table, Item=item)
    return count / (time.perf_counter() - started)


def design_floor_rate(count: int) -> float:
    """Reviews per second of the design's own writes alone, bare, on the app's own tables (same sizes): create
    (conditional put), claim (conditional update), record (the audit put, then the task's conditional update)."""
    import boto3

    from chalicelib.store.models import Audit, Task

    ddb = boto3.client("dynamodb", region_name=REGION)
    started = time.perf_counter()
    for i in range(count):
        key = {"seller_id": {"S": "2299999999"}, "tid": {"S": f"38{i:014d}"}}
        ddb.put_item(
            TableName=Task.Meta.table_name,
            Item=task_item("2299999999", f"38{i:014d}", due_shard=i % 16, due_at=1_794_355_200),
            ConditionExpression="attribute_not_exists(tid)",
        )
        ddb.update_item(
            TableName=Task.Meta.table_name,
            Key=key,
            UpdateExpression="SET #s = :claimed, claimed_until = :until, rev = rev + :one",
            ConditionExpression="#s = :scheduled",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":claimed": {"S": "claimed"},
                ":scheduled": {"S": "scheduled"},
                ":until": {"N": "1794355500"},
                ":one": {"N": "1"},
            },
        )
        ddb.put_item(
            TableName=Audit.Meta.table_name,
            Item={**key, "ts#id": {"S": f"20261112T040000.000000#{i:012d}"}, "result": {"S": "posted"}},
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": "ts#id"},
        )
        ddb.update_item(
            TableName=Task.Meta.table_name,
            Key=key,
            UpdateExpression="SET #s = :posted REMOVE due_shard, due_at, claimed_until",
            ConditionExpression="#s = :claimed",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":posted": {"S": "posted"}, ":claimed": {"S": "claimed"}},
        )
    return count / (time.perf_counter() - started)


@dataclass(frozen=True)
class Burst:
    """A burst of trades pushed at once, swept and worked off: timings, posts, and the requests counted."""

    shops: int
    reviews: int
    posted: int
    queued: int
    seconds: dict
    put_item_per_s: float
    design_floor_per_s: float
    counter: DynamoCounter

    @property
    def reviews_per_s(self) -> float:
        return self.posted / sum(self.seconds.values())


def run_burst(*, shops: int = 4, trades_per_shop: int = 50, seed: int = 11, cold: bool = True) -> Burst:
    """Push every trade of ``shops`` (immediate mode, all due: each push queues its reviews at once), drain the
    worker, then sweep once (the safety net finds nothing left); count it all, write units included.

    With ``cold`` every invocation starts without the per-seller caches (figure 1's cold case at full batches).
    """
    specs = _shops(shops, trades_per_shop)
    day, clock, trades, events = _world(specs, seed)
    counter = DynamoCounter().meter_writes().install()
    with InProcessStack(clock, counter=counter, cold_seller_caches=cold) as stack:
        replay = BenchReplay(stack, specs, trades, events, day)
        with counter.phase_of("setup"):
            replay.onboard()
            messages = replay.happen(events)
            put_rate = put_item_rate(len(messages))
        started = time.perf_counter()
        for i in range(0, len(messages), BATCH):
            stack.push(messages[i : i + BATCH])
        pushed = time.perf_counter()
        stack.drain()
        drained = time.perf_counter()
        queued = stack.tick()["queued"]
        swept = time.perf_counter()
        posted = sum(1 for t in trades if stack.marketplace.post_counts(int(t.tid)) == 1)
        with counter.phase_of("baseline"):
            floor_rate = design_floor_rate(max(10, len(messages) // 4))
    counter.uninstall()
    return Burst(
        shops=shops,
        reviews=len(trades),
        posted=posted,
        queued=queued,
        seconds={
            "webhook": round(pushed - started, 3),
            "worker": round(drained - pushed, 3),
            "sweep": round(swept - drained, 3),
        },
        put_item_per_s=put_rate,
        design_floor_per_s=floor_rate,
        counter=counter,
    )


def throughput_figure(burst: Burst) -> dict:
    """Figure 3: reviews per second through webhook → worker (+ the sweep), against (put_item rate ÷ 3)."""
    floor = burst.put_item_per_s / 3
    ratio = burst.reviews_per_s / floor
    return {
        "name": "pipeline_throughput_vs_floor",
        "value": round(ratio, 3),
        "unit": "reviews/s through webhook→worker (+ one sweep) ÷ (bare put_item/s ÷ 3)",
        "baseline": {"put_item_per_s": round(burst.put_item_per_s, 1), "floor_reviews_per_s": round(floor, 1)},
        "target": f">= {THROUGHPUT_TARGET}",
        "met": ratio >= THROUGHPUT_TARGET,
        "detail": {
            "reviews": burst.reviews,
            "posted": burst.posted,
            "queued_by_the_sweep_after": burst.queued,
            "reviews_per_s": round(burst.reviews_per_s, 1),
            "seconds": burst.seconds,
            "design_floor_reviews_per_s": round(burst.design_floor_per_s, 1),
            "ratio_to_design_floor": round(burst.reviews_per_s / burst.design_floor_per_s, 3),
            "note": "design floor = the same backend doing only the review's own writes: create (put), claim "
            "(update), record (audit put, task update)",
        },
    }


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def webhook_latency_figure(*, batches: int = 30, seed: int = 13) -> dict:
    """Figure 6: time to accept a batch of 100 TradeSuccess messages, against batch_write_item of the same tasks
    (and, for the design's own floor, 100 conditional put_item calls of them: duplicates are absorbed by the
    conditional create, which BatchWriteItem cannot do)."""
    import boto3

    specs = _shops(4, batches * BATCH // 4)
    day, clock, trades, events = _world(specs, seed)
    pushes: list[float] = []
    writes: list[float] = []
    puts: list[float] = []
    with InProcessStack(clock) as stack:
        replay = BenchReplay(stack, specs, trades, events, day)
        replay.onboard()
        ddb = boto3.client("dynamodb", region_name=REGION)
        batch_table = _scratch_table(ddb, "haoping-bench-BaselineBatch")
        put_table = _scratch_table(ddb, "haoping-bench-BaselinePut")
        table = _tasks_table()
        for i in range(0, len(events), BATCH):
            chunk = events[i : i + BATCH]
            messages = replay.messages_for(chunk)
            started = time.perf_counter()
            status, body = stack.push(messages)
            pushes.append(time.perf_counter() - started)
            if status != 200 or any(r["status"] != "ok" for r in body["results"]):
                raise RuntimeError(f"webhook did not accept a batch: {status}")
            items = _written_tasks(ddb, table, chunk, replay.seller_ids)
            started = time.perf_counter()
            batch_write(ddb, batch_table, items)
            writes.append(time.perf_counter() - started)
            started = time.perf_counter()
            for item in items:
                ddb.put_item(TableName=put_table, Item=item, ConditionExpression="attribute_not_exists(tid)")
            puts.append(time.perf_counter() - started)
    p50, p99 = _percentile(pushes, 0.5), _percentile(pushes, 0.99)
    b50, b99 = _percentile(writes, 0.5), _percentile(writes, 0.99)
    c50 = _percentile(puts, 0.5)
    return {
        "name": "webhook_batch_latency",
        "value": {"p50_ms": round(p50 * 1000, 1), "p99_ms": round(p99 * 1000, 1)},
        "unit": "ms to accept a signed batch of 100 TradeSuccess messages (in-process, moto)",
        "baseline": {
            "batch_write_item_p50_ms": round(b50 * 1000, 1),
            "batch_write_item_p99_ms": round(b99 * 1000, 1),
        },
        "target": "report; ratio to the bare write of the same 100 items",
        "met": None,
        "detail": {
            "batches": len(pushes),
            "ratio_p50": round(p50 / b50, 2),
            "ratio_p99": round(p99 / b99, 2),
            "conditional_put_item_x100_p50_ms": round(c50 * 1000, 1),
            "ratio_p50_to_conditional_puts": round(p50 / c50, 2),
            "mean_ms": round(statistics.fmean(pushes) * 1000, 1),
        },
    }


def _tasks_table() -> str:
    from chalicelib.store.models import Task

    return Task.Meta.table_name


def _written_tasks(ddb, table: str, events, seller_ids: dict[str, str]) -> list[dict]:
    """The task items the webhook wrote for ``events``, read back (outside any timing)."""
    keys = [{"seller_id": {"S": seller_ids[e.trade.seller_nick]}, "tid": {"S": e.trade.tid}} for e in events]
    items: list[dict] = []
    for i in range(0, len(keys), 100):
        items += ddb.batch_get_item(RequestItems={table: {"Keys": keys[i : i + 100]}})["Responses"][table]
    return items

"""The burst figures 1 and 12 count (every trade of a few shops pushed at once, worked off and swept), and figure 6:
webhook batch latency against a bare batch_write_item and 100 conditional put_item of the same items, on the same
moto backend in the same run."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.counting import DynamoCounter
from bench.items import batch_write
from bench.scale import SQS_ROUND_TRIP_S, _SqsStandIn
from bench.stack import REGION, BenchReplay, InProcessStack
from sandbox.market.clock import FakeClock
from sandbox.world import TEMPLATES, SellerSpec, generate, market_midnight

PRO = "FW_GOODS-1000000-2"
BATCH = 100
# A push of 100 is accepted within twice the 100 conditional writes it needs (p99): slower, and the platform's
# resends at a peak feed on themselves.
PUSH_RATIO_TARGET = 2.0


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


@dataclass(frozen=True)
class Burst:
    """A burst of trades pushed at once, swept and worked off: timings, posts, and the requests counted."""

    shops: int
    reviews: int
    posted: int
    queued: int
    seconds: dict
    webhook_batches: int
    worker_batches: int
    counter: DynamoCounter


def run_burst(*, shops: int = 4, trades_per_shop: int = 50, seed: int = 11, cold: bool = True, services=None) -> Burst:
    """Push every trade of ``shops`` (immediate mode, all due: each push queues its reviews at once), drain the
    worker, then sweep once (the safety net finds nothing left); count it all, write units included.

    With ``cold`` every invocation starts without the per-seller caches (figure 1's cold case at full batches).
    """
    specs = _shops(shops, trades_per_shop)
    day, clock, trades, events = _world(specs, seed)
    counter = DynamoCounter().meter_writes().install()
    if services is not None:
        services.phases = counter  # other AWS requests are counted under the same phases
    with InProcessStack(clock, counter=counter, cold_seller_caches=cold) as stack:
        replay = BenchReplay(stack, specs, trades, events, day)
        with counter.phase_of("setup"):
            replay.onboard()
            messages = replay.happen(events)
        # The pushes, deliveries and sweep set their own phases; what the stack itself asks of SQS between them
        # (the event source's receives and deletes) is the burst's.
        with counter.phase_of("burst"):
            started = time.perf_counter()
            for i in range(0, len(messages), BATCH):
                stack.push(messages[i : i + BATCH])
            pushed = time.perf_counter()
            stack.drain()
            drained = time.perf_counter()
            queued = stack.tick()["queued"]
            swept = time.perf_counter()
        posted = sum(1 for t in trades if stack.marketplace.post_counts(int(t.tid)) == 1)
        invocations = dict(stack.invocations.counts)
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
        webhook_batches=invocations.get("webhook", 0),
        worker_batches=invocations.get("worker", 0),
        counter=counter,
    )


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def webhook_latency_figure(*, batches: int = 20, rounds: int = 3, seed: int = 13) -> dict:
    """Figure 6: time to accept a batch of 100 TradeSuccess messages, against batch_write_item of the same tasks
    (and, for the design's own floor, 100 conditional put_item calls of them: duplicates are absorbed by the
    conditional create, which BatchWriteItem cannot do). ``rounds`` rounds of ``batches`` batches each; each
    percentile is reported as the minimum and median over the rounds."""
    import boto3

    specs = _shops(4, rounds * batches * BATCH // 4)
    day, clock, trades, events = _world(specs, seed)
    measured: list[dict[str, list[float]]] = []
    with InProcessStack(clock) as stack:
        replay = BenchReplay(stack, specs, trades, events, day)
        replay.onboard()
        ddb = boto3.client("dynamodb", region_name=REGION)
        batch_table = _scratch_table(ddb, "haoping-bench-BaselineBatch")
        put_table = _scratch_table(ddb, "haoping-bench-BaselinePut")
        table = _tasks_table()
        # The push's jobs go to an SQS stand-in answering each SendMessageBatch after an in-region round trip:
        # moto's SendMessage recounts the whole queue for every message (~20 ms each even when it is empty).
        with _SqsStandIn(SQS_ROUND_TRIP_S):
            for r in range(rounds):
                times: dict[str, list[float]] = {"push": [], "batch_write": [], "conditional_puts": []}
                for i in range(r * batches * BATCH, (r + 1) * batches * BATCH, BATCH):
                    chunk = events[i : i + BATCH]
                    messages = replay.messages_for(chunk)
                    started = time.perf_counter()
                    status, body = stack.push(messages)
                    times["push"].append(time.perf_counter() - started)
                    if status != 200 or any(res["status"] != "ok" for res in body["results"]):
                        raise RuntimeError(f"webhook did not accept a batch: {status}")
                    items = _written_tasks(ddb, table, chunk, replay.seller_ids)
                    started = time.perf_counter()
                    batch_write(ddb, batch_table, items)
                    times["batch_write"].append(time.perf_counter() - started)
                    started = time.perf_counter()
                    for item in items:
                        ddb.put_item(TableName=put_table, Item=item, ConditionExpression="attribute_not_exists(tid)")
                    times["conditional_puts"].append(time.perf_counter() - started)
                measured.append(times)

    def spread(kind: str, q: float, scale: float = 1000) -> dict:
        per_round = [_percentile(m[kind], q) * scale for m in measured]
        return {"min": round(min(per_round), 1), "median": round(statistics.median(per_round), 1)}

    def ratio(kind: str, q: float) -> dict:
        per_round = [_percentile(m["push"], q) / _percentile(m[kind], q) for m in measured]
        return {"min": round(min(per_round), 2), "median": round(statistics.median(per_round), 2)}

    p99_to_puts = ratio("conditional_puts", 0.99)
    met = p99_to_puts["median"] <= PUSH_RATIO_TARGET
    return {
        "name": "webhook_batch_latency",
        "value": {"p50_ms": spread("push", 0.5), "p99_ms": spread("push", 0.99)},
        "unit": "ms to accept a signed batch of 100 TradeSuccess messages (in-process, moto); min and median of "
        f"{rounds} rounds",
        "baseline": {
            "batch_write_item_p50_ms": spread("batch_write", 0.5),
            "batch_write_item_p99_ms": spread("batch_write", 0.99),
            "conditional_put_item_x100_p50_ms": spread("conditional_puts", 0.5),
            "conditional_put_item_x100_p99_ms": spread("conditional_puts", 0.99),
        },
        "target": f"p99 ≤ {PUSH_RATIO_TARGET:g} × the 100 conditional put_item of the same items (median of the "
        "rounds); the ratio to a bare batch_write_item is reported",
        "met": met,
        "detail": {
            "why_missed_here": None
            if met
            else "the push's own CPU (validation, rendering, lint, logging) on a loaded 2-core machine; moto's "
            "per-request cost is the unit, so a busy machine stretches both sides but not evenly",
            "ratio_p50_to_batch_write": ratio("batch_write", 0.5),
            "ratio_p99_to_batch_write": ratio("batch_write", 0.99),
            "ratio_p50_to_conditional_puts": ratio("conditional_puts", 0.5),
            "ratio_p99_to_conditional_puts": p99_to_puts,
            "conditions": {
                "dynamodb": "moto, in this process",
                "rounds": rounds,
                "batches_per_round": batches,
                "messages_per_batch": BATCH,
                "shops": len(specs),
                "seller_caches": "warm (a busy webhook container)",
                "p99_note": "with few batches per round, p99 is the round's slowest batch",
                "review_queue": f"an SQS stand-in answering each SendMessageBatch after {SQS_ROUND_TRIP_S * 1000:g} ms "
                "(as figure 11): moto's SendMessage recounts the queue per message",
                "push_requests": "per push: 100 conditional PutItem, a BatchGetItem of the buyers' last texts per "
                "100 keys, a BatchWriteItem of them per 25, a SendMessageBatch per 10 jobs",
            },
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

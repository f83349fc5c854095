"""Figures 1 and 2: a replayed market day, counting DynamoDB requests and marketplace calls per posted review."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.counting import DynamoCounter
from bench.stack import BenchReplay, InProcessStack
from sandbox.market.clock import FakeClock
from sandbox.world import default_sellers, generate, market_midnight

# The phases of a trade's own path to a posted review; ratings and refunds are the rest of the day.
REVIEW_PHASES = ("push:trade_success", "worker")
NOT_THE_DAY = ("setup", "report")
WRITE_UNIT_TARGET = 8.0
READ_TARGET = 0.2
REVIEW_TABLES = ("Tasks", "Audit", "Stats")
# The design's write units per posted review queued at once, by table and index (docs/performance.md, figure 1):
# 6 in all. Such a task stays outside the ``due`` index (a review due later adds and removes its entry: 2 more).
DESIGN_UNITS = {"Tasks": 3.0, "Tasks/by_trade_end": 1.0, "Stats": 1.0, "Audit": 1.0}
HOT_SHOP_TRADES_PER_S = 46  # 2 % of the 2,315 trades/s Double-11 design point (docs/capacity.md)
PARTITION_WCU = 1000  # DynamoDB's write units per second per partition key


@dataclass(frozen=True)
class DayRun:
    """What one replayed day did, as counted."""

    cold: bool
    steps: dict
    sellers: int
    trades: int
    messages: int
    posted: int
    ok: bool
    counter: DynamoCounter
    sweeps: int
    worker_batches: int
    webhook_batches: int
    deliveries: dict[str, int]  # SQS batches delivered, by the phase of the function they went to
    market_calls: int
    double_posts: int
    logical_calls: int
    retries: int
    item_bytes: dict[str, int]
    stored_byte_days: dict[str, float]  # per table: bytes its items keep × the days they are kept
    log_bytes: int | None
    wall_seconds: float

    def day_phases(self) -> tuple[str, ...]:
        """Every phase of the replayed days (billing, reconcile and the app's other work included)."""
        return tuple(p for p in self.counter.phase_totals() if p not in NOT_THE_DAY)

    def per_review(self, kind: str, phases: tuple[str, ...]) -> float:
        """Requests of ``kind`` in ``phases`` per posted review."""
        return round(self.counter.total(kind, phases=phases) / max(1, self.posted), 3)


@contextmanager
def _replay_steps(trading_minutes: int, quiet_hours: int) -> Iterator[None]:
    """The replay's clock steps: while the market trades, and in the quiet days after (the sandbox steps 5 minutes
    and 1 hour; its report reads the same values). Every step runs the sweep and drains every queue, so the steps,
    not the trades, set the replay's cost; longer steps put more reviews in a worker invocation (figure 1 says how
    many)."""
    import sandbox.replay

    saved = sandbox.replay.TRADING_TICK, sandbox.replay.QUIET_TICK
    sandbox.replay.TRADING_TICK = timedelta(minutes=trading_minutes)
    sandbox.replay.QUIET_TICK = timedelta(hours=quiet_hours)
    try:
        yield
    finally:
        sandbox.replay.TRADING_TICK, sandbox.replay.QUIET_TICK = saved


def replay_day(
    *,
    sellers: int,
    trades: int,
    cold: bool,
    fault_rate: float,
    step_minutes: int = 5,
    quiet_step_hours: int = 1,
    seed: int = 7,
    services=None,
) -> DayRun:
    """Replay one market day (and the 15 days after it) in-process, the clock stepping ``step_minutes`` while the
    market trades and ``quiet_step_hours`` after; count everything after onboarding."""
    day = market_midnight(datetime(2026, 11, 11, 12, tzinfo=UTC))
    clock = FakeClock(day.astimezone(UTC) - timedelta(days=1))
    specs = default_sellers(trades)[:sellers]
    world_trades, events = generate(day, specs, seed=seed)
    counter = DynamoCounter().meter_writes().install()
    if services is not None:
        services.phases = counter  # other AWS requests are counted under the same phases
    started = time.perf_counter()
    stack = InProcessStack(clock, counter=counter, cold_seller_caches=cold, marketplace_options={"seed": seed})
    with stack:
        replay = BenchReplay(stack, specs, world_trades, events, day)
        with counter.phase_of("setup"):
            replay.onboard()
        if fault_rate:
            stack.marketplace.faults.set("taobao.traderate.add", error_rate=fault_rate)
        stack.invocations.counts.clear()
        log_start = _log_position()
        with _replay_steps(step_minutes, quiet_step_hours):
            with counter.phase_of("other"):
                replay.run()
            log_end = _log_position()
            with counter.phase_of("report"):
                report = replay.report(wall_seconds=time.perf_counter() - started)
                posted, sizes, byte_days = _posted_and_item_sizes(replay)
        from chalicelib.container import container

        stats = container().top().stats
        market = stack.marketplace
        run = DayRun(
            cold=cold,
            steps={"trading_minutes": step_minutes, "quiet_hours": quiet_step_hours},
            sellers=sellers,
            trades=len(world_trades),
            messages=len(events),
            posted=posted,
            ok=report.ok,
            counter=counter,
            sweeps=stack.invocations.counts["sweep"],
            worker_batches=stack.invocations.counts["worker"],
            webhook_batches=stack.invocations.counts["webhook"],
            deliveries=dict(stack.invocations.deliveries),
            market_calls=market.calls["taobao.traderate.add"],
            double_posts=sum(1 for t in world_trades if market.post_counts(int(t.tid)) > 1),
            logical_calls=stats.calls,
            retries=stats.retries,
            item_bytes=sizes,
            stored_byte_days=byte_days,
            log_bytes=None if log_start is None or log_end is None else log_end - log_start,
            wall_seconds=round(time.perf_counter() - started, 1),
        )
    counter.uninstall()
    return run


def _log_position() -> int | None:
    # The app writes its JSON logs and EMF metrics to stdout, as in Lambda; ``make bench`` points that at a file.
    try:
        sys.stdout.flush()
        return sys.stdout.tell()
    except (OSError, ValueError, AttributeError):
        return None


# The tables whose items grow with the trades, and how long each item is kept (its TTL): the storage a trade
# leaves behind. A Stats item is a buyer's phrase memory (kept like it) or an hour or day counter.
STORED_TABLES = ("Tasks", "Audit", "Stats", "Outbox")
ITEM_OVERHEAD_BYTES = 100  # DynamoDB's per-item (and per index entry) storage overhead


def retention_days(table: str, item: dict) -> tuple[int, bool]:
    """Days an item of ``table`` is kept after its last write (the store's TTLs), and whether there is one such
    item per trade (a task, an audit entry, a buyer's memory) rather than per seller and hour or day (a counter)."""
    from chalicelib.store import audit, buyer_history, outbox, robots, stats, tasks

    if table == "Stats":
        bucket = item.get("bucket", {}).get("S", "")
        if bucket.startswith((buyer_history.TEXT_PREFIX, buyer_history.PREFIX)):
            return buyer_history.RETENTION.days, True
        return (robots.BUDGET_RETENTION if bucket.startswith("robot#") else stats.RETENTION).days, False
    return {"Tasks": tasks.TERMINAL_RETENTION, "Audit": audit.RETENTION, "Outbox": outbox.RETENTION}[table].days, True


def stored_bytes(model, item: dict) -> int:
    """Bytes DynamoDB stores for ``item``: the item and one entry in every index it is in, each with its
    overhead (keys-only indexes hold the table's and the index's keys)."""
    from bench.counting import attribute_size, item_size

    schema = model._get_schema()
    table_keys = [k["AttributeName"] for k in schema["key_schema"]]
    total = item_size(item) + ITEM_OVERHEAD_BYTES
    for gsi in schema.get("global_secondary_indexes", []):
        index_keys = [k["AttributeName"] for k in gsi["key_schema"]]
        if all(k in item for k in index_keys):
            names = dict.fromkeys([*table_keys, *index_keys])
            total += sum(len(n.encode()) + attribute_size(item[n]) for n in names) + ITEM_OVERHEAD_BYTES
    return total


def _posted_and_item_sizes(replay: BenchReplay) -> tuple[int, dict[str, int], dict[str, float]]:
    """Posted reviews; the largest task and audit item (bytes as DynamoDB sizes them: write units); and per table
    of ``STORED_TABLES``, the byte-days its items are kept (stored bytes × retention days), the items kept per
    seller (counters) apart as ``<table> per seller``."""
    import boto3

    from bench.counting import item_size
    from chalicelib.container import container
    from chalicelib.store.models import MODELS, Task

    posted = 0
    for seller_id in replay.seller_ids.values():
        posted += sum(1 for t in Task.query(seller_id) if t.state == "posted")
    ddb = boto3.client("dynamodb", region_name=container().settings.region)
    sizes, byte_days = {}, {}
    for model in MODELS:
        table = model.Meta.logical_name
        if table not in STORED_TABLES:
            continue
        items, page = [], {"TableName": model.Meta.table_name}
        while True:
            answer = ddb.scan(**page)
            items += answer["Items"]
            if "LastEvaluatedKey" not in answer:
                break
            page["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        if table in ("Tasks", "Audit"):
            sizes[table] = max((item_size(i) for i in items), default=0)
        for item in items:
            days, per_trade = retention_days(table, item)
            key = table if per_trade else f"{table} per seller"
            byte_days[key] = byte_days.get(key, 0) + stored_bytes(model, item) * days
    return posted, sizes, byte_days


def requests_figure(day: DayRun, burst) -> dict:
    """Figure 1: DynamoDB write units and reads per posted review on the trade's own path (push + worker).

    Write units come from the burst (``bench.throughput.run_burst``), where every trade posts and nothing else
    happens to it, worked out by ``bench.write_units`` (sizes, indexes, transactions, refused conditions). Reads
    are counted with cold per-seller caches (every invocation starts without the seller, blacklist and token
    caches: a typical shop's trades are minutes apart) twice: in the burst, whose pushes and worker batches are
    full, as at the peak; and in the replayed day, a trickle of one or two reviews per worker invocation.
    """
    meter = burst.counter.write_units
    posted = max(1, burst.posted)
    per_target = {k: round(v / posted, 3) for k, v in meter.breakdown(phases=REVIEW_PHASES).items()}
    units = round(meter.total(phases=REVIEW_PHASES) / posted, 3)
    # The review's own items: its task (and the task's index entries), its audit entry, its hour reservation.
    own_units = round(sum(v for k, v in per_target.items() if k.split("/")[0] in REVIEW_TABLES), 3)
    writes = round(burst.counter.total("write", phases=REVIEW_PHASES) / posted, 3)
    reads_burst = round(burst.counter.total("read", phases=REVIEW_PHASES) / posted, 3)
    # Strongly consistent reads on this path are the refund read-back before posting a trade that ended over ten
    # minutes ago (``services.reviews.refund_sync``: a seller's refunds, at most every ten minutes), not the
    # review's own.
    read_back = round(sum(burst.counter.consistent[p] for p in REVIEW_PHASES) / posted, 3)
    reads_own = round(reads_burst - read_back, 3)
    reads_day = day.per_review("read", REVIEW_PHASES)
    units_cold = round(day.counter.units(phases=REVIEW_PHASES) / max(1, day.posted), 3)
    sweep_reads = day.counter.total("read", phases=("sweep",))
    met = own_units <= WRITE_UNIT_TARGET and reads_own <= READ_TARGET
    return {
        "name": "dynamodb_units_per_posted_review",
        "value": {
            "write_units": own_units,
            "reads_cold_caches": reads_own,
            "write_units_with_seller_marks": units,
            "reads_with_refund_read_back": reads_burst,
            "reads_cold_caches_trickle": reads_day,
        },
        "unit": "write units and read requests per posted review on its own path (TradeSuccess push + worker)",
        "baseline": {
            "write_units_before": 12,
            "reads_cold_before": 3.37,
            "note": "before: claim moved due_at (2 index units), record was a transaction (Tasks 2 + Audit 2), "
            "every review read its seller and queried its blacklist at the push and again in the worker",
        },
        "target": f"write units <= {WRITE_UNIT_TARGET:g}, reads <= {READ_TARGET:g} with cold caches",
        "met": met,
        "detail": {
            "why_missed_here": None if met else _why_units(per_target, burst),
            "write_units_per_review_by_table_and_index": per_target,
            "refund_read_back_reads_per_review": read_back,
            "note": "write_units and reads_cold_caches are the review's own (task, its index entries, audit, hour "
            "counter; the sellers' BatchGetItem per push and per worker batch). The rest on this path belongs to "
            "the refund read-back before a post (a consistent seller and task read and a watermark write, per "
            "seller at most every ten minutes, once per thread of a batch that met a stale watermark)",
            "write_requests_per_review": writes,
            "trades": day.trades,
            "posted": day.posted,
            "replay_outcomes_ok": day.ok,
            "burst": {"reviews": burst.reviews, "posted": burst.posted},
            "read_units_cold_caches_trickle": units_cold,
            "reads_note": "one BatchGetItem of the sellers per push and per worker batch; no Blacklist query for a "
            "seller without one; the trickle's batches hold one or two reviews",
            "whole_day_write_units_by_phase": {
                phase: round(day.counter.write_units.total(phases=(phase,)), 1) for phase in day.day_phases()
            },
            "whole_day_per_review": {
                "write_units": round(day.counter.write_units.total(phases=day.day_phases()) / max(1, day.posted), 3),
                "writes": day.per_review("write", day.day_phases()),
                "reads_besides_the_sweep": day.per_review("read", tuple(p for p in day.day_phases() if p != "sweep")),
            },
            "conditions": {
                "seller_caches": "cold: every invocation starts without the seller, blacklist and token caches",
                "burst_batch_fill": {
                    "reviews": burst.reviews,
                    "messages_per_push": round(burst.reviews / max(1, burst.webhook_batches), 1),
                    "records_per_worker_invocation": round(burst.reviews / max(1, burst.worker_batches), 1),
                },
                "trickle_batch_fill": {
                    "posted": day.posted,
                    "replay_clock_steps": day.steps,
                    "worker_invocations": day.worker_batches,
                    "records_per_worker_invocation": round(day.posted / max(1, day.worker_batches), 2),
                },
                "dynamodb": "moto, in this process (requests and units are counted, not timed)",
            },
            "review_path_breakdown_burst": burst.counter.breakdown(phases=REVIEW_PHASES),
            "review_path_breakdown_trickle": day.counter.breakdown(phases=REVIEW_PHASES),
            "day_phases": {p: v for p, v in day.counter.phase_totals().items() if p not in NOT_THE_DAY},
            "sweep": {
                "ticks": day.sweeps,
                "reads": sweep_reads,
                "queries_per_tick": round(sweep_reads / max(1, day.sweeps), 2),
            },
            "invocations": {"webhook": day.webhook_batches, "sweep": day.sweeps, "worker": day.worker_batches},
            "largest_item_bytes": day.item_bytes,
            "app_log_bytes_per_review": None if day.log_bytes is None else round(day.log_bytes / max(1, day.posted)),
            "replay_wall_seconds": day.wall_seconds,
        },
    }


def _why_units(per_target: dict[str, float], burst) -> str:
    """What the review path does beyond the design's write units, and its reads: the app's work, not this machine."""
    over = {k: round(v - DESIGN_UNITS.get(k, 0.0), 3) for k, v in per_target.items() if v > DESIGN_UNITS.get(k, 0.0)}
    posted = max(1, burst.posted)
    reads = {op: round(n / posted, 2) for op, n in burst.counter.breakdown(phases=REVIEW_PHASES).items()}
    reads = {op: n for op, n in reads.items() if op.split()[0] in ("GetItem", "BatchGetItem", "Query")}
    return (
        f"not this machine: the review path writes more than the design's {DESIGN_UNITS} per review; units over "
        f"it by table and index: {over}; read requests per review: {reads}"
    )


def hot_shop_figure(day: DayRun, burst, *, shop_trades_per_s: float = HOT_SHOP_TRADES_PER_S) -> dict:
    """Figure 12: the write units one shop's trades put on a single partition key, at 2 % of the Double-11 peak.

    A shop's tasks, audit entries, hour counters and ``by_trade_end`` entries all share its ``seller_id`` as
    partition key. The burst gives a review's own path per trade; the replayed day adds the rest of a trade's
    life (buyer ratings, refunds, reconcile). DynamoDB takes at most 1,000 write units a second per key.
    """
    per_key = Counter()
    for (phase, target, key), units in burst.counter.write_units.by_key.items():
        if phase in REVIEW_PHASES:
            per_key[(target, key)] += units
    trades_per_shop = max(1, burst.reviews // max(1, burst.shops))
    busiest = {}
    for (target, _key), units in per_key.most_common():
        if target not in busiest:
            busiest[target] = round(units / trades_per_shop, 3)
    seller_targets = ("Tasks", "Tasks/by_trade_end", "Audit", "Stats")
    review_path = sum(busiest.get(t, 0) for t in seller_targets)
    day_meter = day.counter.write_units
    day_units = Counter()
    for (phase, target, key), units in day_meter.by_key.items():
        if phase not in NOT_THE_DAY and target in seller_targets:
            day_units[key] += units
    life = round(max(day_units.values(), default=0) / max(1, day.trades / max(1, day.sellers)), 3)
    per_trade = max(review_path, life)
    load = per_trade * shop_trades_per_s
    return {
        "name": "hot_shop_partition_load",
        "value": {"write_units_per_s": round(load, 1), "share_of_partition_limit": round(load / PARTITION_WCU, 3)},
        "unit": f"write units/s on one shop's partition key at {shop_trades_per_s:g} trades/s (2 % of the peak)",
        "baseline": {"partition_limit_wcu_per_s": PARTITION_WCU},
        "target": "< 1,000 WCU/s per key with room to spare (no write sharding needed below it)",
        "met": load < PARTITION_WCU / 2,
        "detail": {
            "why_missed_here": None
            if load < PARTITION_WCU / 2
            else "not this machine: a trade's units on its shop's key are above the design's (figure 1 says which)",
            "review_path_units_per_trade_by_target": {t: busiest.get(t, 0) for t in seller_targets},
            "review_path_units_per_trade_on_the_key": round(review_path, 3),
            "whole_life_units_per_trade_on_the_key_replayed_day": life,
            "trades_per_s_before_the_key_throttles": round(PARTITION_WCU / max(per_trade, 0.001)),
            "hottest_keys_in_the_burst": [
                [target, key, round(units, 1)]
                for target, key, units in burst.counter.write_units.hottest(phases=REVIEW_PHASES)
            ],
            "shops_in_burst": burst.shops,
            "conditions": {"burst_trades_per_shop": trades_per_shop, "replayed_day_shops": day.sellers},
        },
    }


def marketplace_figure(run: DayRun, fault_rate: float) -> dict:
    """Figure 2: marketplace calls per posted review and duplicate posts, from the sandbox's counters.

    Faults are injected on ``taobao.traderate.add`` only, so the client's retries are that API's retries.
    """
    per_review = round(run.market_calls / max(1, run.posted), 3)
    needed = run.posted + run.retries
    return {
        "name": "marketplace_calls_per_posted_review",
        "value": {"calls_per_review": per_review, "duplicate_posts": run.double_posts},
        "unit": "taobao.traderate.add HTTP calls per posted review",
        "baseline": {"one_per_review_plus_retries": round(needed / max(1, run.posted), 3)},
        "target": "calls == posted + retries the injected faults needed; 0 duplicate posts",
        "met": run.market_calls == needed and run.double_posts == 0,
        "detail": {
            "posted": run.posted,
            "sandbox_calls": run.market_calls,
            "client_retries": run.retries,
            "injected_fault_rate": fault_rate,
            "client_calls_all_apis": run.logical_calls,
        },
    }

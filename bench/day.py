"""Figures 1 and 2: a replayed market day, counting DynamoDB requests and marketplace calls per posted review."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.counting import DynamoCounter
from bench.stack import BenchReplay, InProcessStack
from sandbox.market.clock import FakeClock
from sandbox.world import default_sellers, generate, market_midnight

# The phases of a trade's own path to a posted review; ratings and refunds are the rest of the day.
REVIEW_PHASES = ("push:trade_success", "worker")
NOT_THE_DAY = ("setup", "report")
WRITE_TARGET = 4.0
READ_TARGET = 0.2


@dataclass(frozen=True)
class DayRun:
    """What one replayed day did, as counted."""

    cold: bool
    trades: int
    posted: int
    ok: bool
    counter: DynamoCounter
    sweeps: int
    worker_batches: int
    webhook_batches: int
    market_calls: int
    double_posts: int
    logical_calls: int
    retries: int
    item_bytes: dict[str, int]
    log_bytes: int | None
    wall_seconds: float

    def day_phases(self) -> tuple[str, ...]:
        """Every phase of the replayed days (billing, reconcile and the app's other work included)."""
        return tuple(p for p in self.counter.phase_totals() if p not in NOT_THE_DAY)

    def per_review(self, kind: str, phases: tuple[str, ...]) -> float:
        """Requests of ``kind`` in ``phases`` per posted review."""
        return round(self.counter.total(kind, phases=phases) / max(1, self.posted), 3)


def replay_day(*, sellers: int, trades: int, cold: bool, fault_rate: float, seed: int = 7) -> DayRun:
    """Replay one market day (and the 15 days after it) in-process; count everything after onboarding."""
    day = market_midnight(datetime(2026, 11, 11, 12, tzinfo=UTC))
    clock = FakeClock(day.astimezone(UTC) - timedelta(days=1))
    specs = default_sellers(trades)[:sellers]
    world_trades, events = generate(day, specs, seed=seed)
    counter = DynamoCounter().install()
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
        with counter.phase_of("other"):
            replay.run()
        log_end = _log_position()
        with counter.phase_of("report"):
            report = replay.report(wall_seconds=time.perf_counter() - started)
            posted, sizes = _posted_and_item_sizes(replay)
        from chalicelib.services import runtime

        stats = runtime.top_client().stats
        market = stack.marketplace
        run = DayRun(
            cold=cold,
            trades=len(world_trades),
            posted=posted,
            ok=report.ok,
            counter=counter,
            sweeps=stack.invocations.counts["sweep"],
            worker_batches=stack.invocations.counts["worker"],
            webhook_batches=stack.invocations.counts["webhook"],
            market_calls=market.calls["taobao.traderate.add"],
            double_posts=sum(1 for t in world_trades if market.post_counts(int(t.tid)) > 1),
            logical_calls=stats.calls,
            retries=stats.retries,
            item_bytes=sizes,
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


def _posted_and_item_sizes(replay: BenchReplay) -> tuple[int, dict[str, int]]:
    """Posted reviews, and the largest task and audit item (bytes as DynamoDB sizes them: write units)."""
    import boto3

    from bench.counting import item_size
    from chalicelib.store.models import Audit, Task

    posted = 0
    for seller_id in replay.seller_ids.values():
        posted += sum(1 for t in Task.query(seller_id) if t.state == "posted")
    ddb = boto3.client("dynamodb", region_name=Task.Meta.region)
    sizes = {}
    for model in (Task, Audit):
        items = ddb.scan(TableName=model.Meta.table_name)["Items"]
        sizes[model.Meta.logical_name] = max((item_size(i) for i in items), default=0)
    return posted, sizes


def requests_figure(day: DayRun, burst) -> dict:
    """Figure 1: DynamoDB requests per posted review on the trade's own path (TradeSuccess push + worker).

    Reads depend on the per-container caches: the replayed day starts every invocation without the seller
    and blacklist caches (a typical shop's trades are minutes apart, longer than the cache period); the burst
    (``bench.throughput.run_burst``) is busy shops whose caches stay warm.
    """
    # Every trade of the burst posts and nothing else happens to it: its writes are exactly a review's own.
    writes = round(burst.counter.total("write", phases=REVIEW_PHASES) / max(1, burst.posted), 3)
    reads_cold = day.per_review("read", REVIEW_PHASES)
    reads_warm = round(burst.counter.total("read", phases=REVIEW_PHASES) / max(1, burst.posted), 3)
    units_cold = round(day.counter.units(phases=REVIEW_PHASES) / max(1, day.posted), 3)
    sweep_reads = day.counter.total("read", phases=("sweep",))
    return {
        "name": "dynamodb_requests_per_posted_review",
        "value": {"writes": writes, "reads_cold_caches": reads_cold, "reads_warm_caches": reads_warm},
        "unit": "requests per posted review on its own path (TradeSuccess push + worker)",
        "baseline": {"writes_floor": 3, "note": "create, claim, record"},
        "target": f"writes <= {WRITE_TARGET:g}, reads <= {READ_TARGET:g}",
        "met": writes <= WRITE_TARGET and reads_cold <= READ_TARGET,
        "detail": {
            "trades": day.trades,
            "posted": day.posted,
            "replay_outcomes_ok": day.ok,
            "day_writes_incl_trades_that_did_not_post": day.per_review("write", REVIEW_PHASES),
            "read_units_cold_caches": units_cold,
            "whole_day_per_review": {
                "writes": day.per_review("write", day.day_phases()),
                "reads_besides_the_sweep": day.per_review("read", tuple(p for p in day.day_phases() if p != "sweep")),
            },
            "review_path_breakdown_cold": day.counter.breakdown(phases=REVIEW_PHASES),
            "review_path_breakdown_warm": burst.counter.breakdown(phases=REVIEW_PHASES),
            "warm_burst": {"reviews": burst.reviews, "posted": burst.posted},
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

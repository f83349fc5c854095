"""Figures 8–11: the app at the seed's scale, each against its baseline in the same run.

8. The per-seller jobs over ≥ 20,000 sellers, each run with a short deadline until done: invocations, sellers per
   invocation, every candidate served exactly once, no Scan; extrapolated to 100,000 sellers.
9. Push → posted latency in immediate mode, with a poller playing Lambda's SQS event source.
10. Reviews per second of one worker container, its records one after another and concurrently.
11. The sweep's sender: jobs per second from one thread and from the configured parallelism.

All run in-process on moto with the sandbox marketplace (``bench.stack``). Where real AWS would add a network
round trip that moto does not have, a simulated one is added and said so.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.counting import DynamoCounter
from bench.items import batch_write, task_item
from bench.spread import ROUNDS, spread
from bench.stack import REGION, BenchReplay, InProcessStack
from sandbox.lambda_driver import BATCH, lambda_context, sqs_event
from sandbox.market.clock import FakeClock
from sandbox.world import TEMPLATES, SellerSpec, generate, market_midnight

PRO = "FW_GOODS-1000000-2"
MARKET_LATENCY_MS = 80  # the middle of the 60–100 ms a traderate.add takes from the region
SQS_ROUND_TRIP_S = 0.008  # a SendMessageBatch round trip inside an AWS region (moto has none)
DESIGN_JOBS_PER_S = 2300  # the capacity plan's design point (docs/capacity.md)
LAMBDA_TIMEOUT_S = 60  # the functions' timeout in the template
JOB_NAMES = ("tokens", "billing", "reconcile")


DDB_LOCAL = Path(__file__).resolve().parent.parent / "build" / "ddblocal" / "package" / "emulator"


@contextmanager
def _dynamodb_engine():
    """DynamoDB on Amazon's DynamoDB Local (a real engine, in its own process) when ``make test-ddblocal`` has
    installed it and Java is here, else moto in this process; yields which."""
    import shutil

    from tests import ddb_local

    if shutil.which("java") is None or not (DDB_LOCAL / ddb_local.JAR).is_file():
        yield "moto"
        return
    server = ddb_local.start(DDB_LOCAL)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.endpoint
    try:
        yield "DynamoDB Local"
    finally:
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        server.stop()


# -- 8. jobs at scale -------------------------------------------------------------------------------------------
def _seed_sellers(stack: InProcessStack, count: int, token_due: int) -> dict[str, set[str]]:
    """``count`` sellers: ``token_due`` of them authorized for real through the sandbox with tokens that expire
    within the refresh margin; the rest written in batches (their tokens months away). Every seller is due for
    the daily billing pass (as on the first pass after they were indexed) with a paid period far ahead. Returns
    each job's expected candidates."""
    from chalicelib.marketplace.models import TokenGrant
    from chalicelib.services.onboarding.onboard_seller import onboard
    from chalicelib.store.models import Seller
    from chalicelib.store.sellers import seller_shard

    now = stack.clock.now()
    epoch = int(now.timestamp())
    bulk = [f"26{i:08d}" for i in range(count - token_due)]
    with Seller.batch_write() as batch:
        for seller_id in bulk:
            batch.save(
                Seller(
                    seller_id,
                    nick=f"bulk_{seller_id}",
                    status="active",
                    settings={},
                    created_at=epoch - 86400,
                    updated_at=epoch - 86400,
                    paid_until=epoch + 30 * 86400,
                    shard=seller_shard(seller_id),
                    token_due_at=epoch + 20 * 86400,
                    billing_at=epoch - 3600,
                )
            )
    due = set()
    for i in range(token_due):
        account = stack.marketplace.add_seller(f"due_{i:05d}")
        grant = TokenGrant(
            access_token=account.access_token,
            token_type="Bearer",
            expires_in=3600,  # inside the three hours the tokens job refreshes ahead
            refresh_token=account.refresh_token,
            re_expires_in=30 * 86400,
            taobao_user_id=account.user_id,
            taobao_user_nick=account.nick,
            issued_at=now,
        )
        due.add(onboard(grant, now=now))
    everyone = set(bulk) | due
    return {"tokens": due, "billing": everyone, "reconcile": everyone}


@contextmanager
def _serves_counted():
    """Count every job's serves per seller (each job's ``serve`` wrapped where its handler finds it)."""
    from chalicelib.handlers import reconcile, tokens
    from chalicelib.services.billing import billing_daily

    served = {name: Counter() for name in JOB_NAMES}
    places = [(tokens, "JOB"), (billing_daily, "JOB"), (reconcile, "JOB")]
    originals = [(module, attr, getattr(module, attr)) for module, attr in places]
    for module, attr, job in originals:

        def counted(seller_id, run, now, *, _job=job):
            served[_job.name][seller_id] += 1
            return _job.serve(seller_id, run, now)

        setattr(module, attr, dataclasses.replace(job, serve=counted))
    try:
        yield served
    finally:
        for module, attr, job in originals:
            setattr(module, attr, job)


def jobs_figure(*, sellers: int = 20_000, token_due: int = 500, deadline_s: float = 5.0) -> dict:
    """Figure 8: each per-seller job's run over ``sellers`` sellers, every invocation given ``deadline_s``."""
    # Today's date: DynamoDB Local deletes items whose TTL has passed in real time, the run's markers included.
    clock = FakeClock(datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0))
    counter = DynamoCounter().install()
    per_job: dict[str, dict] = {}
    market = {"session_ttl_seconds": 86400}
    with _dynamodb_engine() as engine, InProcessStack(clock, counter=counter, marketplace_options=market) as stack:
        with counter.phase_of("setup"):
            started = time.perf_counter()
            expected = _seed_sellers(stack, sellers, token_due)
            seeding = time.perf_counter() - started
        with _serves_counted() as served:
            for name in JOB_NAMES:
                began = time.perf_counter()
                result = stack.run_job(name, context=lambda name=name: lambda_context(name, timeout_seconds=deadline_s))
                seconds = time.perf_counter() - began
                counts = served[name]
                candidates = expected[name]
                per_job[name] = {
                    "candidates": len(candidates),
                    "served": result["served"],
                    "every_candidate_once": set(counts) == candidates and set(counts.values()) == {1},
                    "served_twice": sum(1 for n in counts.values() if n > 1),
                    "missed": len(candidates - set(counts)),
                    "others_served": len(set(counts) - candidates),
                    "invocations": result["invocations"],
                    "messages": result["delivered"],
                    # The schedule's own invocation only queues the plan messages.
                    "sellers_per_invocation": round(len(counts) / max(1, result["invocations"] - 1), 1),
                    "seconds": round(seconds, 1),
                    "seconds_per_seller": round(seconds / max(1, len(counts)), 5),
                    "scans": sum(n for (phase, op, _), n in counter.requests.items() if phase == name and op == "Scan"),
                    "index_queries": counter.breakdown(phases=(name,)).get("Query Sellers", 0),
                    "dynamodb_requests_per_seller": {
                        op: round(n / max(1, len(counts)), 2) for op, n in counter.breakdown(phases=(name,)).items()
                    },
                }
    counter.uninstall()
    ok = all(j["every_candidate_once"] and j["served"] == j["candidates"] and j["scans"] == 0 for j in per_job.values())
    for name, job in per_job.items():
        job["at_100k"] = _extrapolate(name, job, sellers)
    return {
        "name": "per_seller_jobs_at_scale",
        "value": {name: job["invocations"] for name, job in per_job.items()},
        "unit": f"invocations to serve {sellers:,} sellers with {deadline_s:g} s per invocation, each job",
        "baseline": {
            "before": "one invocation Scanned every seller and served them in turn: ~500 s of work for 100k "
            "sellers inside a 60 s function, so every run died at the same seller and the tail was never served",
        },
        "target": "every candidate served exactly once, no Scan, any number of sellers",
        "met": ok,
        "detail": {
            **per_job,
            "sellers": sellers,
            "token_due": token_due,
            "seeding_seconds": round(seeding, 1),
            "dynamodb": engine,
            "conditions": {"dynamodb": engine, "deadline_per_invocation_s": deadline_s, "sellers": sellers},
            "note": "bulk sellers' serves are each job's real cheapest path (billing: not due yet, rescheduled; "
            "reconcile: no session, skipped; tokens: not due, never read); the token-due sellers refresh for "
            "real through the sandbox's OAuth, are attended by billing and reconciled with three marketplace "
            "reads. moto answers an index query by walking the table, DynamoDB does not",
        },
    }


def _extrapolate(name: str, job: dict, sellers: int) -> dict:
    """The run at 100,000 sellers with the measured seconds per seller: 60 s invocations keep a reserve."""
    from chalicelib.handlers.job_queue import SELLER_BUDGET_MS
    from chalicelib.handlers.reconcile import SELLER_BUDGET_MS as RECONCILE_BUDGET_MS
    from chalicelib.services.jobs.seller_jobs import SELLERS_PER_MESSAGE

    reserve = (RECONCILE_BUDGET_MS if name == "reconcile" else SELLER_BUDGET_MS) / 1000
    scale = 100_000 / sellers
    work = job["seconds_per_seller"] * job["candidates"] * scale
    return {
        "candidates": round(job["candidates"] * scale),
        "lambda_seconds": round(work),
        "invocations_at_least": math.ceil(work / (LAMBDA_TIMEOUT_S - reserve)),
        "seller_messages": math.ceil(job["candidates"] * scale / SELLERS_PER_MESSAGE),
        "minutes_with_10_workers": round(work / 10 / 60, 1),
    }


# -- shared: shops in immediate mode, and a poller that plays Lambda's SQS event source --------------------------
def _immediate_shops(count: int, trades: int, prefix: str) -> list[SellerSpec]:
    settings = {"templates": TEMPLATES, "template_strategy": "rotate", "mode": "immediate"}
    return [SellerSpec(f"{prefix}_{i}", settings, PRO, trades) for i in range(count)]


def _world(specs: list[SellerSpec], seed: int):
    day = market_midnight(datetime(2026, 11, 11, 12, tzinfo=UTC))
    trades, events = generate(day, specs, seed=seed, rating_rate=0.0, refund_rate=0.0)
    return day, trades, events


class _Poller:
    """Lambda's SQS event source for the review queue: poll, invoke the worker with what came, delete what it did.

    Runs in its own thread until stopped; no batching window, so a job is taken the moment it is visible.
    """

    def __init__(self, stack: InProcessStack) -> None:
        import boto3

        self.stack = stack
        self.sqs = boto3.client("sqs", region_name=REGION)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sqs-poller", daemon=True)

    def __enter__(self) -> _Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from app import review_worker

        url = self.stack.endpoints.review_queue_url
        while not self._stop.is_set():
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                time.sleep(0.005)
                continue
            result = review_worker(sqs_event(messages, url), lambda_context("worker")) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- 9. push → posted ------------------------------------------------------------------------------------------
def latency_figure(
    *, trades: int = 200, rounds: int = ROUNDS, per_push: int = 10, interval_s: float = 1.0, seed: int = 17
) -> dict:
    """Figure 9: seconds from a TradeSuccess push to its review posted on the marketplace, immediate mode;
    ``rounds`` rounds of ``trades`` trades, each percentile as the minimum and median over the rounds."""
    specs = _immediate_shops(4, rounds * trades // 4, "latency_shop")
    day, world_trades, events = _world(specs, seed)
    clock = FakeClock(day.astimezone(UTC) + timedelta(days=1, hours=1))
    per_round: list[dict] = []
    with InProcessStack(clock) as stack:
        replay = BenchReplay(stack, specs, world_trades, events, day)
        replay.onboard()
        stack.marketplace.faults.set("taobao.traderate.add", latency_ms=MARKET_LATENCY_MS)
        messages = replay.happen(events)
        size = len(messages) // rounds
        for r in range(rounds):
            window = slice(r * size, (r + 1) * size)
            per_round.append(_one_latency_round(stack, events[window], messages[window], per_push, interval_s))
        swept = stack.tick()["queued"]
    every = all(len(lat) == size for lat in per_round)
    p50 = spread((_percentile(lat, 0.5) for lat in per_round if lat), 3)
    p99 = spread((_percentile(lat, 0.99) for lat in per_round if lat), 3)
    return {
        "name": "push_to_posted_latency",
        "value": {"p50_s": p50, "p99_s": p99},
        "unit": f"seconds from a TradeSuccess push to its review posted (immediate mode); min and median of {rounds} "
        "rounds",
        "baseline": {
            "sweep_only_p50_s": 30.0,
            "sweep_only_p99_s": 59.4,
            "note": "before, a review due now waited for the next minute's sweep (uniform over the minute) "
            "and for hours once a backlog formed",
        },
        "target": "p99 <= 5 s (median of the rounds)",
        "met": every and p99["median"] <= 5.0,
        "detail": {
            "posted_per_round": [len(lat) for lat in per_round],
            "max_s": round(max((max(lat) for lat in per_round if lat), default=0), 3),
            "queued_by_a_sweep_afterwards": swept,
            "conditions": {
                "trades_per_round": size,
                "rounds": rounds,
                "pushes": f"{per_push} trades every {interval_s} s",
                "pollers": 2,
                "marketplace_latency_ms": MARKET_LATENCY_MS,
                "dynamodb": "moto, in this process",
                "seller_caches": "warm after each seller's first trade",
            },
        },
    }


def _one_latency_round(stack: InProcessStack, events, messages, per_push: int, interval_s: float) -> list[float]:
    """Push ``messages`` ``per_push`` at a time while two pollers work the queue; each review's push→posted s."""
    pushed_at: dict[int, float] = {}
    posted_at: dict[int, float] = {}
    done = threading.Event()

    def watch() -> None:
        # The marketplace's side: the moment each review shows there (polled every 5 ms).
        while not done.is_set():
            for tid in [t for t in list(pushed_at) if t not in posted_at]:
                if stack.marketplace.post_counts(tid) >= 1:
                    posted_at[tid] = time.perf_counter()
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, name="bench-posted-watcher", daemon=True)
    with _Poller(stack), _Poller(stack):
        watcher.start()
        for i in range(0, len(messages), per_push):
            now = time.perf_counter()
            for event in events[i : i + per_push]:
                pushed_at[int(event.trade.tid)] = now
            stack.push(messages[i : i + per_push])
            time.sleep(interval_s)
        deadline = time.perf_counter() + 120
        while len(posted_at) < len(pushed_at) and time.perf_counter() < deadline:
            time.sleep(0.05)
        done.set()
        watcher.join(timeout=10)
    return [posted_at[tid] - pushed_at[tid] for tid in posted_at]


# -- 10. worker container throughput ---------------------------------------------------------------------------
def worker_figure(*, trades: int = 200, rounds: int = ROUNDS, seed: int = 19) -> dict:
    """Figure 10: reviews per second of one worker container draining the review queue, records one at a time
    versus concurrently, with the marketplace answering after ``MARKET_LATENCY_MS`` and DynamoDB on DynamoDB
    Local when it is installed; ``rounds`` rounds of ``trades`` trades (half each way), min and median."""

    from chalicelib.container import container
    from sandbox.stack import rebind_app

    specs = _immediate_shops(4, rounds * trades // 4, "worker_shop")
    day, world_trades, events = _world(specs, seed)
    clock = FakeClock(day.astimezone(UTC) + timedelta(days=1, hours=1))
    per_round: list[dict[int, dict]] = []
    with _dynamodb_engine() as engine, InProcessStack(clock) as stack:
        replay = BenchReplay(stack, specs, world_trades, events, day)
        replay.onboard()
        stack.marketplace.faults.set("taobao.traderate.add", latency_ms=MARKET_LATENCY_MS)
        messages = replay.happen(events)
        concurrency = container().settings.record_concurrency
        half = len(messages) // (2 * rounds)
        for r in range(rounds):
            rates: dict[int, dict] = {}
            for k, workers in enumerate((1, concurrency)):
                block = messages[(2 * r + k) * half : (2 * r + k + 1) * half]
                warm, chunk = block[:BATCH], block[BATCH:]
                os.environ["HAOPING_RECORD_CONCURRENCY"] = str(workers)
                rebind_app()
                # A rebound container starts cold (settings, clients, secrets, switches, seller caches): one
                # delivery, not timed, brings it to the steady state the figure is about.
                stack.push(warm)
                stack.drain()
                for i in range(0, len(chunk), 100):
                    stack.push(chunk[i : i + 100])
                before = _posted(stack, chunk)
                started = time.perf_counter()
                stack.drain()
                seconds = time.perf_counter() - started
                posted = _posted(stack, chunk) - before
                rates[workers] = {"reviews": posted, "seconds": round(seconds, 2), "per_s": round(posted / seconds, 1)}
            per_round.append(rates)
        os.environ.pop("HAOPING_RECORD_CONCURRENCY", None)
        rebind_app()
    ratios = [rates[concurrency]["per_s"] / max(0.001, rates[1]["per_s"]) for rates in per_round]
    ratio = spread(ratios, 2)
    return {
        "name": "worker_container_reviews_per_s",
        "value": ratio,
        "unit": f"reviews/s of one container with {concurrency} records at once ÷ one at a time; min and median of "
        f"{rounds} rounds",
        "baseline": {"one_at_a_time_per_s": spread((rates[1]["per_s"] for rates in per_round), 1)},
        "target": ">= 3 (median of the rounds)",
        "met": ratio["median"] >= 3,
        "detail": {
            "concurrent_per_s": spread((rates[concurrency]["per_s"] for rates in per_round), 1),
            "rounds": [{str(k): v for k, v in rates.items()} for rates in per_round],
            "conditions": {
                "trades_per_round": 2 * half,
                "warm_up": f"one delivery of {BATCH} each way, not timed, after the container is rebound",
                "rounds": rounds,
                "record_concurrency": concurrency,
                "delivery_size": BATCH,
                "marketplace_latency_ms": MARKET_LATENCY_MS,
                "dynamodb": engine,
                "seller_caches": "warm (the warm-up delivery)",
            },
            "note": "the threads overlap the waits on DynamoDB and the marketplace; on moto, DynamoDB's work is CPU "
            "in this process and cannot overlap, so the ratio there is lower than on a real engine",
        },
    }


def _posted(stack: InProcessStack, messages: list[dict]) -> int:
    import json

    tids = {json.loads(m["content"])["tid"] for m in messages}
    return sum(1 for tid in tids if stack.marketplace.post_counts(int(tid)) >= 1)


# -- 11. the sweep's sender ------------------------------------------------------------------------------------
class _SqsStandIn:
    """SQS's SendMessageBatch on 127.0.0.1, answering after ``round_trip`` seconds (an in-region round trip).

    moto cannot measure a sender: its SendMessage recounts the whole queue for every message, so a call slows
    down as the queue fills. This stand-in speaks SQS's JSON protocol for that one action and keeps nothing.
    """

    def __init__(self, round_trip: float) -> None:
        import hashlib
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(round_trip)
                answer = {
                    "Successful": [
                        {
                            "Id": entry["Id"],
                            "MessageId": f"m{entry['Id']}",
                            "MD5OfMessageBody": hashlib.md5(entry["MessageBody"].encode()).hexdigest(),
                        }
                        for entry in body.get("Entries", [])
                    ],
                    "Failed": [],
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-sqs-stand-in", daemon=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def __enter__(self) -> _SqsStandIn:
        import os

        from sandbox.stack import rebind_app

        self._thread.start()
        os.environ["AWS_ENDPOINT_URL_SQS"] = self.url
        rebind_app()  # the app's SQS client is made again, for the stand-in
        return self

    def __exit__(self, *exc) -> None:
        import os

        from sandbox.stack import rebind_app

        os.environ.pop("AWS_ENDPOINT_URL_SQS", None)
        rebind_app()
        self._server.shutdown()
        self._server.server_close()


def sweep_rate_figure(*, jobs: int = 10_000, rounds: int = ROUNDS, shards: int = 16) -> dict:
    """Figure 11: jobs per second the sweep's sender queues, one thread against the rules' ``sweep_senders``, each
    SendMessageBatch answered after an in-region round trip (``rounds`` rounds, min and median); and a whole sweep of
    ``jobs`` due tasks each way, once."""
    import boto3

    from chalicelib.container import container
    from chalicelib.services.rules import rules_in_force
    from chalicelib.store import control, queues

    clock = FakeClock(datetime(2026, 11, 12, 4, 0, tzinfo=UTC))
    with InProcessStack(clock, due_shards=shards) as stack:
        from chalicelib.store.models import Task
        from chalicelib.store.tasks import due_shard

        senders = rules_in_force().sweep_senders
        base = int(clock.now().timestamp()) - 60
        keys = [(f"22{i % 1000:08d}", f"39{i:014d}") for i in range(jobs)]
        bodies = [{"seller_id": s, "tid": t} for s, t in keys]
        ddb = boto3.client("dynamodb", region_name=REGION)
        items = (task_item(s, t, due_shard=due_shard(s, t, shards), due_at=base) for s, t in keys)
        batch_write(ddb, Task.Meta.table_name, items)
        sweeps: dict[str, dict] = {}
        with _SqsStandIn(SQS_ROUND_TRIP_S):
            url = container().settings.review_queue_url
            rates: dict[int, list[float]] = {1: [], senders: []}
            cpu_ms_per_batch: list[float] = []
            for _ in range(rounds):
                for threads in (1, senders):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    sent = queues.send_jobs(url, bodies, senders=threads)
                    rates[threads].append(sent / (time.perf_counter() - started))
                    cpu_ms_per_batch.append((time.process_time() - cpu_started) * 1000 / max(1, sent / 10))
            for threads in (1, senders):
                override = {"version": f"bench-senders-{threads}", "sweep_senders": threads}
                control.write_rules_override(override, now=clock.now())
                started = time.perf_counter()
                queued = stack.tick()["queued"]
                seconds = time.perf_counter() - started
                sweeps[f"{threads}_senders"] = {"queued": queued, "jobs_per_s": round(queued / seconds)}
    sequential, parallel = spread(rates[1], 0), spread(rates[senders], 0)
    cpu_ms = statistics.median(cpu_ms_per_batch)
    ratio = spread((p / s for p, s in zip(rates[senders], rates[1], strict=True)), 2)
    return {
        "name": "sweep_sender_jobs_per_s",
        "value": {"sequential": sequential, "parallel": parallel, "ratio": ratio},
        "unit": f"jobs/s queued by the sweep's sender, 1 thread vs {senders} (rules: sweep_senders), "
        f"{SQS_ROUND_TRIP_S * 1000:g} ms per SendMessageBatch round trip",
        "baseline": {"design_point_jobs_per_s": DESIGN_JOBS_PER_S, "before": "one sender, a budget of 100 jobs/s"},
        "target": f"parallel >= {DESIGN_JOBS_PER_S} jobs/s (median of the rounds)",
        "met": parallel["median"] >= DESIGN_JOBS_PER_S,
        "detail": {
            "why_missed_here": None
            if parallel["median"] >= DESIGN_JOBS_PER_S
            else f"this machine: the senders are CPU-bound here ({cpu_ms:.1f} ms of this process's CPU per batch of "
            f"ten, the SQS stand-in's included, on {os.cpu_count()} cores shared at a load average of "
            f"{os.getloadavg()[0]:.1f}); in Lambda the sweep has its vCPU to itself and SQS's CPU is not its own",
            "cpu_ms_per_batch_of_ten": round(cpu_ms, 2),
            "whole_sweep": sweeps,
            "design_point_senders_needed": math.ceil(DESIGN_JOBS_PER_S / max(1, sequential["median"])),
            "conditions": {"jobs": jobs, "rounds": rounds, "due_shards": shards, "cpu_cores": os.cpu_count()},
            "note": "SQS is a stand-in on 127.0.0.1 answering each SendMessageBatch after the round trip (moto's "
            "SendMessage recounts the queue per message); the whole sweep also runs moto's due-index queries, "
            "which walk the table",
        },
    }

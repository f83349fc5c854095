"""Figure 13: AWS cost per seller-month at 100 trades a day, priced from inputs measured in the same run as
figures 1, 2 and 12 (the burst: a review's own path at full batches; the replayed day: a trade's whole life with
cold caches), at us-east-1 list prices. ``docs/capacity.md`` tables the same inputs and the changes that would
take the figure to $0.01."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from botocore import handlers

from deploy.package import INFREQUENT_ACCESS_TABLES, PROVISIONED_TABLES, SCALING_TARGET_UTILIZATION

SERVICES = ("sqs", "kms", "secretsmanager", "sns")
TARGET = 0.02
GOAL = 0.01
TRADES_PER_DAY = 100
DAYS_PER_MONTH = 30
# Lambda memory of the API handler and the review worker (deploy/): GB-s are wall seconds × this.
LAMBDA_GB = 0.5
# us-east-1 list prices, USD.
PRICES = {
    "dynamodb_wru": 0.625e-6,
    "dynamodb_rru": 0.125e-6,
    "dynamodb_wcu_hour": 0.00065,
    "dynamodb_rcu_hour": 0.00013,
    "dynamodb_gb_month": 0.25,
    "dynamodb_ia_gb_month": 0.10,
    "dynamodb_ia_request_factor": 1.25,  # Standard-IA requests cost 1.25 × Standard's, on-demand and provisioned
    "kms_request": 0.03 / 10_000,
    "secrets_request": 0.05 / 10_000,
    "sqs_request": 0.40e-6,
    "sns_publish": 0.50e-6,
    "lambda_gb_s": 0.0000133334,  # arm64 (deploy.package.ARCHITECTURE); x86_64 is 0.0000166667
    "lambda_request": 0.20e-6,
    "api_gateway_request": 3.50e-6,
    "logs_gb": 0.50,
}
# When the market trades (docs/capacity.md): 85 % of a day's trades between 09:00 and 23:00, the rest spread
# over the other ten hours. The trade tables' provisioned units follow this curve.
BUSY_HOURS = range(9, 23)
BUSY_SHARE = 0.85
# The weeks of a year the trade tables run on-demand (``TableCapacity``): Double-11's, whose peak outruns
# auto-scaling.
ON_DEMAND_WEEKS = 2
# Lambda time is not measured here: in-process on moto, each DynamoDB request costs moto's CPU, not a round trip.
# From the bench's DynamoDB Local figures instead (2026-12-07): a worker container posts 27 reviews/s at 512 MB
# (figure 10's median, 8.3/s × 3.28), and a push of 100 takes 1.8× its 100 conditional PutItems (figure 6) at
# ~5 ms each in the region: 9 ms a message.
WORKER_REVIEWS_PER_S = 27.0
WEBHOOK_SECONDS_PER_MESSAGE = 0.009
# The replayed day runs the market day and the 15 after it (sandbox.replay.HORIZON): the daily jobs run 16 times.
REPLAYED_DAYS = 16
# Per seller-day, not per trade: the daily jobs, and what a seller's own events do ("other" in the replayed day:
# its plan's purchases and refunds, the holds a renewal releases, its dashboard clicks, the operator's resume).
JOB_PHASES = ("billing", "reconcile", "other")
# Per app, not per seller: the sweep's queries (17 a minute whatever the load) and the event sources' polls.
FIXED_PHASES = ("sweep", "poll")
# A new seller's install backfill (the refunds and the 15 days before it, ~17 jobs that update the seller's
# progress): once per seller, priced per install, not as a part of every trade's month.
INSTALL_PHASES = ("backfill",)
NOT_COUNTED = ("setup", "report")
PER_SELLER = " per seller"  # bench.day: the stored items kept per seller (hour and day counters), not per trade


@dataclass(eq=False)
class ServiceCounter:
    """Counts the requests made to SQS, KMS and Secrets Manager by every botocore client made while counting, by
    the phase of ``phases`` (a ``bench.counting.DynamoCounter``) when one is attached."""

    requests: Counter = field(default_factory=Counter)
    phases: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _seen(self, model, **_) -> None:
        phase = getattr(self.phases, "phase", "setup")
        with self._lock:
            self.requests[(phase, model.service_model.service_name)] += 1

    def _hooks(self) -> list[tuple[str, object]]:
        return [(f"before-parameter-build.{service}", self._seen) for service in SERVICES]

    @contextlib.contextmanager
    def counting(self) -> Iterator[ServiceCounter]:
        """Count inside the block (clients made in it, the app's included)."""
        from bench.counting import _shared_session

        session = _shared_session()
        for hook in self._hooks():
            handlers.BUILTIN_HANDLERS.append(hook)
            if session is not None:
                session.register(*hook)
        try:
            yield self
        finally:
            for hook in self._hooks():
                with contextlib.suppress(ValueError):
                    handlers.BUILTIN_HANDLERS.remove(hook)
                if session is not None:
                    session.unregister(*hook)

    def of(self, service: str, *, phases: tuple[str, ...] | None = None, besides: tuple[str, ...] = ()) -> int:
        """Requests to ``service`` in ``phases`` (all when None) except those in ``besides``."""
        return sum(
            n
            for (phase, name), n in self.requests.items()
            if name == service and (phases is None or phase in phases) and phase not in besides
        )


def _rest_of_life_phases(day) -> tuple[str, ...]:
    from bench.day import REVIEW_PHASES

    skip = (*REVIEW_PHASES, *JOB_PHASES, *FIXED_PHASES, *INSTALL_PHASES, *NOT_COUNTED)
    return tuple(p for p in day.counter.phase_totals() if p not in skip)


def market_day_load() -> list[float]:
    """Share of a day's requests in each hour (``BUSY_SHARE`` over ``BUSY_HOURS``, the rest evenly)."""
    busy, quiet = BUSY_SHARE / len(BUSY_HOURS), (1 - BUSY_SHARE) / (24 - len(BUSY_HOURS))
    return [busy if hour in BUSY_HOURS else quiet for hour in range(24)]


def provisioned_utilization(hourly: list[float], target: float) -> float:
    """Share of the provisioned units a day uses when target tracking keeps ``target`` of them in use: the units rise
    with the load within minutes but come down an hour late (scale-in waits for a quarter-hour of low use and is
    rationed to about one decrease an hour)."""
    units = [max(hourly[h], hourly[h - 1]) / target for h in range(len(hourly))]
    return sum(hourly) / sum(units)


def trade_table_utilization() -> float:
    """Share of the trade tables' provisioned units in use over a market day, as the scaling policies keep them."""
    return provisioned_utilization(market_day_load(), SCALING_TARGET_UTILIZATION / 100)


def provisioned_factor(*, unit_hour: float, on_demand: float, utilization: float) -> float:
    """A request unit's price on the trade tables as a share of on-demand's, over a year: provisioned at
    ``utilization`` outside ``ON_DEMAND_WEEKS``, on-demand during them."""
    provisioned = unit_hour / 3600 / utilization / on_demand
    return ((52 - ON_DEMAND_WEEKS) * provisioned + ON_DEMAND_WEEKS) / 52


def price_class(table: str) -> str:
    """How a table's requests are paid for (deploy.package): ``provisioned``, ``provisioned_ia`` or ``on_demand``.
    A batch over several tables (``A+B``) is priced on-demand unless all are provisioned alike."""
    classes = {
        ("provisioned_ia" if t in INFREQUENT_ACCESS_TABLES else "provisioned")
        if t in PROVISIONED_TABLES
        else ("on_demand_ia" if t in INFREQUENT_ACCESS_TABLES else "on_demand")
        for t in table.split("/")[0].split("+")
    }
    return classes.pop() if len(classes) == 1 else "on_demand"


def _per(value: int | None, n: int) -> int:
    if value is None:
        raise RuntimeError("the app's output was not a file: run the bench through `make bench`")
    return round(value / n)


def _by_class(units: dict[str, float], per: float) -> dict[str, float]:
    out: Counter = Counter()
    for target, n in units.items():
        out[price_class(target)] += n / per
    return {k: round(v, 3) for k, v in sorted(out.items())}


def _reads_by_table(counter, phases: tuple[str, ...]) -> dict[str, float]:
    out: Counter = Counter()
    for (phase, table), n in counter.read_units.items():
        if phase in phases:
            out[table] += n
    return dict(out)


def _sqs_requests(day, services: ServiceCounter, phases: tuple[str, ...]) -> int:
    """The functions' own SQS requests in ``phases``, and the event source's receive and delete of each batch it
    delivered to them (its empty polls are per app)."""
    return services.of("sqs", phases=phases) + 2 * sum(day.deliveries.get(p, 0) for p in phases)


def measured_inputs(day, burst, day_services: ServiceCounter, burst_services: ServiceCounter) -> dict:
    """Per review, per trade and per seller-day, each as this run counted it."""
    from bench.day import REVIEW_PHASES

    posted = max(1, burst.posted)
    trades = max(1, day.trades)
    seller_days = max(1, day.sellers * REPLAYED_DAYS)
    rest = _rest_of_life_phases(day)
    writes = day.counter.write_units
    # The sweep's queries are per app (17 a minute whatever the load); its writes (alerts delivered to the group
    # robots, tasks it moves) follow the trades: a part of their rest of life.
    rest_writes = (*rest, *FIXED_PHASES)
    return {
        "write_units_by_class": {
            "per_review": _by_class(burst.counter.write_units.breakdown(phases=REVIEW_PHASES), posted),
            "per_trade_rest_of_life": _by_class(writes.breakdown(phases=rest_writes), trades),
            "per_seller_day_jobs": _by_class(writes.breakdown(phases=JOB_PHASES), seller_days),
        },
        "read_units_by_class": {
            "per_review": _by_class(_reads_by_table(burst.counter, REVIEW_PHASES), posted),
            "per_trade_rest_of_life": _by_class(_reads_by_table(day.counter, rest), trades),
            "per_seller_day_jobs": _by_class(_reads_by_table(day.counter, JOB_PHASES), seller_days),
        },
        "stored_byte_days_per_trade": {
            t: round(b / trades) for t, b in sorted(day.stored_byte_days.items()) if not t.endswith(PER_SELLER)
        },
        "stored_byte_days_per_seller_day": {
            t.removesuffix(PER_SELLER): round(b / seller_days)
            for t, b in sorted(day.stored_byte_days.items())
            if t.endswith(PER_SELLER)
        },
        "posted_per_trade": round(day.posted / trades, 3),
        "messages_per_trade": round(day.messages / trades, 3),
        "messages_per_push": round(burst.reviews / max(1, burst.webhook_batches), 1),
        "reviews_per_worker_invocation": round(burst.reviews / max(1, burst.worker_batches), 1),
        "write_units_per_review": round(burst.counter.write_units.total(phases=REVIEW_PHASES) / posted, 3),
        "write_units_per_trade_rest_of_life": round(writes.total(phases=rest_writes) / trades, 3),
        "write_units_per_seller_day_jobs": round(writes.total(phases=JOB_PHASES) / seller_days, 3),
        "read_units_per_review": round(burst.counter.units(phases=REVIEW_PHASES) / posted, 3),
        "read_units_per_trade_rest_of_life": round(day.counter.units(phases=rest) / trades, 3),
        "read_units_per_seller_day_jobs": round(day.counter.units(phases=JOB_PHASES) / seller_days, 3),
        # The functions' own SQS requests, and the event source's receive and delete of each batch it delivered
        # (its empty polls are per app).
        "sqs_requests_per_review": round(
            (burst_services.of("sqs", besides=(*NOT_COUNTED, *FIXED_PHASES)) + 2 * burst.worker_batches) / posted, 3
        ),
        "sqs_requests_per_trade_rest_of_life": round(day_services.of("sqs", phases=rest) / trades, 3),
        "sqs_requests_per_seller_day_jobs": round(_sqs_requests(day, day_services, JOB_PHASES) / seller_days, 3),
        "kms_requests_per_review_cold": round(day_services.of("kms", phases=REVIEW_PHASES) / max(1, day.posted), 3),
        "kms_requests_per_seller_day_jobs": round(day_services.of("kms", phases=(*JOB_PHASES, *rest)) / seller_days, 3),
        # Every alert is also published to the alerts topic (services.alerts): a rating's, a job's.
        "sns_publishes_per_trade_rest_of_life": round(
            day_services.of("sns", phases=(*rest, *FIXED_PHASES)) / trades, 3
        ),
        "sns_publishes_per_seller_day_jobs": round(day_services.of("sns", phases=JOB_PHASES) / seller_days, 3),
        "secrets_requests_per_seller_day": round(
            day_services.of("secretsmanager", besides=NOT_COUNTED) / seller_days, 3
        ),
        # The app's output: a review's at full batches (one EMF document an invocation, shared by its ten
        # records), the rest of a trade's life and the jobs' in the replayed day (the sweep's per app).
        "log_bytes_per_review": _per(burst.counter.output_bytes(phases=REVIEW_PHASES), posted),
        "log_bytes_per_trade_rest_of_life": _per(day.counter.output_bytes(phases=rest), trades),
        "log_bytes_per_seller_day_jobs": _per(day.counter.output_bytes(phases=JOB_PHASES), seller_days),
        "log_bytes_per_review_replayed_day": round((day.log_bytes or 0) / max(1, day.posted)),
        "write_units_per_install": round(writes.total(phases=INSTALL_PHASES) / max(1, day.sellers), 3),
        "read_units_per_install": round(day.counter.units(phases=INSTALL_PHASES) / max(1, day.sellers), 3),
        "kms_requests_per_install": round(day_services.of("kms", phases=INSTALL_PHASES) / max(1, day.sellers), 3),
        "sqs_requests_per_install": round(_sqs_requests(day, day_services, INSTALL_PHASES) / max(1, day.sellers), 3),
    }


def install_usd(inputs: dict) -> float:
    """Dollars of one install's backfill (DynamoDB, KMS and SQS requests; its Lambda seconds are a few)."""
    return (
        inputs["write_units_per_install"] * PRICES["dynamodb_wru"]
        + inputs["read_units_per_install"] * PRICES["dynamodb_rru"]
        + inputs["kms_requests_per_install"] * PRICES["kms_request"]
        + inputs["sqs_requests_per_install"] * PRICES["sqs_request"]
    )


def cost_figure(day, burst, day_services: ServiceCounter, burst_services: ServiceCounter) -> dict:
    """Figure 13: dollars per seller-month, each input as this run measured it (Lambda time excepted: see above)."""
    inputs = measured_inputs(day, burst, day_services, burst_services)
    lines = monthly_lines(inputs)
    total = sum(lines.values())
    on_demand = monthly_lines(inputs, capacity="on-demand")
    utilization = trade_table_utilization()
    prices = unit_prices()
    return {
        "name": "aws_cost_per_seller_month",
        "value": round(total, 4),
        "unit": f"USD per seller-month at {TRADES_PER_DAY} trades a day (us-east-1 list prices)",
        "baseline": {"recorded_2026_12_01": 0.042},
        "target": f"≤ {TARGET:g} (goal {GOAL:g})",
        "met": total <= TARGET,
        "detail": {
            "why_missed_here": None
            if total <= TARGET
            else "the app's requests, not this machine: lines_usd says where it goes, docs/capacity.md what cuts it",
            "lines_usd": {k: round(v, 5) for k, v in sorted(lines.items(), key=lambda kv: -kv[1])},
            "table_capacity": {
                "deployed": "provisioned (TableCapacity): the trade tables, outside the Double-11 weeks",
                "provisioned_tables": list(PROVISIONED_TABLES),
                "utilization_of_provisioned_units": round(utilization, 3),
                "write_unit_price_vs_on_demand": round(prices["provisioned"][0] / PRICES["dynamodb_wru"], 3),
                "read_unit_price_vs_on_demand": round(prices["provisioned"][1] / PRICES["dynamodb_rru"], 3),
                "on_demand_weeks_a_year": ON_DEMAND_WEEKS,
                "all_year_on_demand_usd": round(sum(on_demand.values()), 4),
                "all_year_on_demand_lines_usd": {
                    k: round(on_demand[k], 5) for k in ("dynamodb_writes", "dynamodb_reads") if k in on_demand
                },
            },
            "inputs_measured": inputs,
            "per_install_usd": round(install_usd(inputs), 6),
            "inputs_from_other_figures": {
                "worker_reviews_per_s_per_container": WORKER_REVIEWS_PER_S,
                "webhook_seconds_per_message": WEBHOOK_SECONDS_PER_MESSAGE,
            },
            "prices_usd": PRICES,
            "conditions": {
                "review_path": "the burst: full batches (100 messages a push, 10 records a delivery)",
                "rest_of_life_and_jobs": f"the replayed day: {day.sellers} shops × {REPLAYED_DAYS} days, ratings, "
                "refunds, billing and reconcile, with cold seller caches (every invocation meets its sellers' "
                "tokens anew); KMS unwraps a month's data key once per container and hour (security.crypto), "
                "which the in-process stack's one container shows as about none per seller; a seller's own events "
                "(plan purchases and refunds, dashboard clicks) are priced per seller-day with the daily jobs",
                "not_per_seller": "the sweep's queries (17 a minute) and the event sources' empty polls are per "
                "app; the sweep's writes (robot deliveries, tasks it moves) are counted with the trades' rest of life",
                "storage": "the replayed day's items at its end (items and index entries, 100 bytes of overhead "
                "each) × the days the store keeps each (tasks 180 after they end, audit 400, phrase memory 180, "
                "counters 400, inbox 90): byte-days per trade (counters: per seller-day); a steady state holds a "
                "day's trades × that",
                "trade_tables": f"{', '.join(PROVISIONED_TABLES)} on provisioned units kept at "
                f"{SCALING_TARGET_UTILIZATION:g} % use, following a market day ({BUSY_SHARE:.0%} of trades "
                f"09:00-23:00; units come down an hour late), on-demand {ON_DEMAND_WEEKS} weeks a year; Audit on "
                "the Standard-IA class",
                "installs": "a seller's install backfill happens once: priced per install (per_install_usd), not in "
                "the month",
                "log_bytes": "the app's output (JSON lines and EMF) by phase: a review's in the burst (full "
                "batches), the rest of a trade's life and the jobs' in the replayed day; the sweep's per app. "
                "log_bytes_per_review_replayed_day is the former input (all of the replayed day's output per "
                "review: trickle batches, jobs included), for comparison",
            },
        },
    }


def unit_prices(capacity: str = "provisioned") -> dict[str, tuple[float, float]]:
    """Dollars per (write unit, read unit) by ``price_class``, the trade tables deployed with ``TableCapacity`` =
    ``capacity``."""
    write, read = PRICES["dynamodb_wru"], PRICES["dynamodb_rru"]
    if capacity == "provisioned":
        used = trade_table_utilization()
        trade_write = write * provisioned_factor(
            unit_hour=PRICES["dynamodb_wcu_hour"], on_demand=write, utilization=used
        )
        trade_read = read * provisioned_factor(unit_hour=PRICES["dynamodb_rcu_hour"], on_demand=read, utilization=used)
    else:
        trade_write, trade_read = write, read
    ia = PRICES["dynamodb_ia_request_factor"]
    return {
        "on_demand": (write, read),
        "on_demand_ia": (write * ia, read * ia),
        "provisioned": (trade_write, trade_read),
        "provisioned_ia": (trade_write * ia, trade_read * ia),
    }


def _dynamodb_usd(by_class: dict, counts: dict[str, float], prices: dict, which: int) -> float:
    """Dollars of the units in ``by_class`` (per review, per trade, per seller-day) at ``counts`` of each."""
    return sum(
        units * counts[per] * prices[cls][which] for per, classes in by_class.items() for cls, units in classes.items()
    )


def monthly_lines(inputs: dict, *, capacity: str = "provisioned") -> dict[str, float]:
    """Dollars a seller-month by item, the trade tables deployed with ``TableCapacity`` = ``capacity``."""
    trades = TRADES_PER_DAY * DAYS_PER_MONTH
    reviews = trades * inputs["posted_per_trade"]
    messages = trades * inputs["messages_per_trade"]
    pushes = messages / max(1.0, inputs["messages_per_push"])
    counts = {"per_review": reviews, "per_trade_rest_of_life": trades, "per_seller_day_jobs": DAYS_PER_MONTH}
    prices = unit_prices(capacity)
    # Stored bytes at steady state are the trades of a day times the byte-days each leaves.
    stored_gb: Counter = Counter()
    for t, b in inputs["stored_byte_days_per_trade"].items():
        stored_gb[t] += TRADES_PER_DAY * b / 1e9
    for t, b in inputs["stored_byte_days_per_seller_day"].items():
        stored_gb[t] += b / 1e9
    kms = reviews * inputs["kms_requests_per_review_cold"] + DAYS_PER_MONTH * inputs["kms_requests_per_seller_day_jobs"]
    sqs = (
        reviews * inputs["sqs_requests_per_review"]
        + trades * inputs["sqs_requests_per_trade_rest_of_life"]
        + DAYS_PER_MONTH * inputs["sqs_requests_per_seller_day_jobs"]
    )
    gb_s = LAMBDA_GB * (messages * WEBHOOK_SECONDS_PER_MESSAGE + reviews / WORKER_REVIEWS_PER_S)
    invocations = pushes + reviews / max(1.0, inputs["reviews_per_worker_invocation"])
    return {
        "dynamodb_writes": _dynamodb_usd(inputs["write_units_by_class"], counts, prices, 0),
        "dynamodb_reads": _dynamodb_usd(inputs["read_units_by_class"], counts, prices, 1),
        "dynamodb_storage": sum(
            gb * PRICES["dynamodb_ia_gb_month" if t in INFREQUENT_ACCESS_TABLES else "dynamodb_gb_month"]
            for t, gb in stored_gb.items()
        ),
        "kms": kms * PRICES["kms_request"],
        "secrets_manager": DAYS_PER_MONTH * inputs["secrets_requests_per_seller_day"] * PRICES["secrets_request"],
        "sqs": sqs * PRICES["sqs_request"],
        "sns": (
            trades * inputs["sns_publishes_per_trade_rest_of_life"]
            + DAYS_PER_MONTH * inputs["sns_publishes_per_seller_day_jobs"]
        )
        * PRICES["sns_publish"],
        "lambda": gb_s * PRICES["lambda_gb_s"] + invocations * PRICES["lambda_request"],
        "api_gateway": pushes * PRICES["api_gateway_request"],
        "cloudwatch_logs": (
            reviews * inputs["log_bytes_per_review"]
            + trades * inputs["log_bytes_per_trade_rest_of_life"]
            + DAYS_PER_MONTH * inputs["log_bytes_per_seller_day_jobs"]
        )
        / 1e9
        * PRICES["logs_gb"],
    }

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

SERVICES = ("sqs", "kms", "secretsmanager")
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
    "dynamodb_gb_month": 0.25,
    "kms_request": 0.03 / 10_000,
    "secrets_request": 0.05 / 10_000,
    "sqs_request": 0.40e-6,
    "lambda_gb_s": 0.0000166667,
    "lambda_request": 0.20e-6,
    "api_gateway_request": 3.50e-6,
    "logs_gb": 0.50,
}
# Item bytes kept per trade (tasks 180 days, audit 400 days, stats): the storage line of docs/capacity.md, per
# trade and month at steady state; a run of one day cannot measure it.
STORED_GB_PER_MONTHLY_TRADE = 26.85 / 3_000_000
# Lambda time is not measured here: in-process on moto, each DynamoDB request costs moto's CPU, not a round trip.
# From the bench's DynamoDB Local figures instead (2026-12-07): a worker container posts 27 reviews/s at 512 MB
# (figure 10's median, 8.3/s × 3.28), and a push of 100 takes 1.8× its 100 conditional PutItems (figure 6) at
# ~5 ms each in the region: 9 ms a message.
WORKER_REVIEWS_PER_S = 27.0
WEBHOOK_SECONDS_PER_MESSAGE = 0.009
# The replayed day runs the market day and the 15 after it (sandbox.replay.HORIZON): the daily jobs run 16 times.
REPLAYED_DAYS = 16
JOB_PHASES = ("billing", "reconcile")
FIXED_PHASES = ("sweep",)  # 17 queries a minute whatever the load: per app, not per seller
# A new seller's install backfill (the refunds and the 15 days before it, ~17 jobs that update the seller's
# progress): once per seller, priced per install, not as a part of every trade's month.
INSTALL_PHASES = ("backfill",)
NOT_COUNTED = ("setup", "report")


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


def measured_inputs(day, burst, day_services: ServiceCounter, burst_services: ServiceCounter) -> dict:
    """Per review, per trade and per seller-day, each as this run counted it."""
    from bench.day import REVIEW_PHASES

    posted = max(1, burst.posted)
    trades = max(1, day.trades)
    seller_days = max(1, day.sellers * REPLAYED_DAYS)
    rest = _rest_of_life_phases(day)
    writes = day.counter.write_units
    return {
        "posted_per_trade": round(day.posted / trades, 3),
        "messages_per_trade": round(day.messages / trades, 3),
        "messages_per_push": round(burst.reviews / max(1, burst.webhook_batches), 1),
        "reviews_per_worker_invocation": round(burst.reviews / max(1, burst.worker_batches), 1),
        "write_units_per_review": round(burst.counter.write_units.total(phases=REVIEW_PHASES) / posted, 3),
        "write_units_per_trade_rest_of_life": round(writes.total(phases=rest) / trades, 3),
        "write_units_per_seller_day_jobs": round(writes.total(phases=JOB_PHASES) / seller_days, 3),
        "read_units_per_review": round(burst.counter.units(phases=REVIEW_PHASES) / posted, 3),
        "read_units_per_trade_rest_of_life": round(day.counter.units(phases=rest) / trades, 3),
        "read_units_per_seller_day_jobs": round(day.counter.units(phases=JOB_PHASES) / seller_days, 3),
        "sqs_requests_per_review": round(burst_services.of("sqs", besides=NOT_COUNTED) / posted, 3),
        "sqs_requests_per_seller_day_jobs": round(day_services.of("sqs", phases=JOB_PHASES) / seller_days, 3),
        "kms_requests_per_review_cold": round(day_services.of("kms", phases=REVIEW_PHASES) / max(1, day.posted), 3),
        "kms_requests_per_seller_day_jobs": round(day_services.of("kms", phases=(*JOB_PHASES, *rest)) / seller_days, 3),
        "secrets_requests_per_seller_day": round(
            day_services.of("secretsmanager", besides=NOT_COUNTED) / seller_days, 3
        ),
        "log_bytes_per_review": round((day.log_bytes or 0) / max(1, day.posted)),
        "write_units_per_install": round(writes.total(phases=INSTALL_PHASES) / max(1, day.sellers), 3),
        "read_units_per_install": round(day.counter.units(phases=INSTALL_PHASES) / max(1, day.sellers), 3),
        "kms_requests_per_install": round(day_services.of("kms", phases=INSTALL_PHASES) / max(1, day.sellers), 3),
        "sqs_requests_per_install": round(day_services.of("sqs", phases=INSTALL_PHASES) / max(1, day.sellers), 3),
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
            "inputs_measured": inputs,
            "per_install_usd": round(install_usd(inputs), 6),
            "inputs_from_other_figures": {
                "worker_reviews_per_s_per_container": WORKER_REVIEWS_PER_S,
                "webhook_seconds_per_message": WEBHOOK_SECONDS_PER_MESSAGE,
                "stored_gb_per_monthly_trade": STORED_GB_PER_MONTHLY_TRADE,
            },
            "prices_usd": PRICES,
            "conditions": {
                "review_path": "the burst: full batches (100 messages a push, 10 records a delivery)",
                "rest_of_life_and_jobs": f"the replayed day: {day.sellers} shops × {REPLAYED_DAYS} days, ratings, "
                "refunds, billing and reconcile; KMS with cold caches (every invocation decrypts its sellers' "
                "tokens, as reviews minutes apart meet them)",
                "not_per_seller": "the sweep (17 queries a minute) and the event sources' empty polls are per app",
                "installs": "a seller's install backfill happens once: priced per install (per_install_usd), not in "
                "the month",
                "log_bytes": "the replayed day's app output (JSON lines and EMF) per posted review, jobs included",
            },
        },
    }


def monthly_lines(inputs: dict) -> dict[str, float]:
    """Dollars a seller-month by item."""
    trades = TRADES_PER_DAY * DAYS_PER_MONTH
    reviews = trades * inputs["posted_per_trade"]
    messages = trades * inputs["messages_per_trade"]
    pushes = messages / max(1.0, inputs["messages_per_push"])
    units = (
        reviews * inputs["write_units_per_review"]
        + trades * inputs["write_units_per_trade_rest_of_life"]
        + DAYS_PER_MONTH * inputs["write_units_per_seller_day_jobs"]
    )
    reads = (
        reviews * inputs["read_units_per_review"]
        + trades * inputs["read_units_per_trade_rest_of_life"]
        + DAYS_PER_MONTH * inputs["read_units_per_seller_day_jobs"]
    )
    kms = reviews * inputs["kms_requests_per_review_cold"] + DAYS_PER_MONTH * inputs["kms_requests_per_seller_day_jobs"]
    sqs = reviews * inputs["sqs_requests_per_review"] + DAYS_PER_MONTH * inputs["sqs_requests_per_seller_day_jobs"]
    gb_s = LAMBDA_GB * (messages * WEBHOOK_SECONDS_PER_MESSAGE + reviews / WORKER_REVIEWS_PER_S)
    invocations = pushes + reviews / max(1.0, inputs["reviews_per_worker_invocation"])
    return {
        "dynamodb_writes": units * PRICES["dynamodb_wru"],
        "dynamodb_reads": reads * PRICES["dynamodb_rru"],
        "dynamodb_storage": trades * STORED_GB_PER_MONTHLY_TRADE * PRICES["dynamodb_gb_month"],
        "kms": kms * PRICES["kms_request"],
        "secrets_manager": DAYS_PER_MONTH * inputs["secrets_requests_per_seller_day"] * PRICES["secrets_request"],
        "sqs": sqs * PRICES["sqs_request"],
        "lambda": gb_s * PRICES["lambda_gb_s"] + invocations * PRICES["lambda_request"],
        "api_gateway": pushes * PRICES["api_gateway_request"],
        "cloudwatch_logs": reviews * inputs["log_bytes_per_review"] / 1e9 * PRICES["logs_gb"],
    }

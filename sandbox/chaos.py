"""Chaos for the local stack and the reliability tests: what production does to the app, done on purpose.

- ``DynamoFaults``: DynamoDB calls fail with throttling or connection errors. They are injected below
  PynamoDB, after the SDK's own retries, so each one stands for a burst that outlasted those retries.
- ``CrashAfterPost``: the worker dies after the marketplace accepted a review, before the task records it.
- ``ChaosPlan``: the timeline of ``make run ARGS=--chaos`` and of the e2e fault suite, and ``judge``, the
  invariants it must leave intact.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.marketplace.errors import TopCode

THROTTLING = ("ProvisionedThroughputExceededException", "ThrottlingException")
CONNECTION = "connection"
ALL_KINDS = (*THROTTLING, CONNECTION)


class InjectedCrash(RuntimeError):
    """Raised where a crash is injected: the code after this point never ran."""


def _dynamo_error(kind: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError, EndpointConnectionError

    if kind == CONNECTION:
        return EndpointConnectionError(endpoint_url="https://dynamodb.injected.invalid")
    error = {"Error": {"Code": kind, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    return ClientError(error, operation)


def mentions(*values: str, operation: str | None = None) -> Callable[[str, dict], bool]:
    """A ``DynamoFaults`` filter: ``operation`` calls (any, if None) whose request text holds every value.

    The request is matched as JSON text, e.g. ``mentions(tid, '"S": "claimed"', operation="UpdateItem")``.
    """

    def match(called: str, kwargs: dict) -> bool:
        if operation is not None and called != operation:
            return False
        text = json.dumps(kwargs, default=str)
        return all(value in text for value in values)

    return match


class DynamoFaults:
    """Make PynamoDB's DynamoDB calls fail while installed (``with DynamoFaults(...):``).

    A call fails when ``active()`` is true, ``match(operation, kwargs)`` accepts it, the failure budget
    ``times`` is not used up, and a draw from ``rng`` falls under ``rate``. The error kind rotates through
    ``kinds``: ``ProvisionedThroughputExceededException``, ``ThrottlingException``, a connection error.
    """

    def __init__(
        self,
        *,
        rate: float = 1.0,
        times: int | None = None,
        match: Callable[[str, dict], bool] | None = None,
        active: Callable[[], bool] | None = None,
        kinds: tuple[str, ...] = ALL_KINDS,
        rng: random.Random | None = None,
    ) -> None:
        self.rate = rate
        self.times = times
        self.match = match
        self.active = active
        self.kinds = kinds
        self.rng = rng or random.Random(0)
        self.injected: Counter[str] = Counter()
        self._original = None

    def _should_fail(self, operation: str, kwargs: dict) -> str | None:
        if self.active is not None and not self.active():
            return None
        if self.times is not None and sum(self.injected.values()) >= self.times:
            return None
        if self.match is not None and not self.match(operation, kwargs):
            return None
        if self.rate < 1.0 and self.rng.random() >= self.rate:
            return None
        kind = self.kinds[sum(self.injected.values()) % len(self.kinds)]
        self.injected[kind] += 1
        return kind

    def install(self) -> DynamoFaults:
        """Start failing calls."""
        from pynamodb.connection.base import Connection

        if self._original is not None:
            return self
        original = Connection._make_api_call
        faults = self

        def _make_api_call(connection, operation_name, operation_kwargs):
            kind = faults._should_fail(operation_name, operation_kwargs)
            if kind is not None:
                raise _dynamo_error(kind, operation_name)
            return original(connection, operation_name, operation_kwargs)

        self._original = original
        Connection._make_api_call = _make_api_call
        return self

    def uninstall(self) -> None:
        """Stop failing calls."""
        from pynamodb.connection.base import Connection

        if self._original is not None:
            Connection._make_api_call = self._original
            self._original = None

    def __enter__(self) -> DynamoFaults:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()


class CrashAfterPost:
    """The worker dies right after ``taobao.traderate.add`` succeeded, before the task is marked posted.

    Installed, the next ``times`` transitions of a task to posted raise ``InjectedCrash`` instead of
    writing; ``crashed`` lists the (seller_id, tid) it interrupted.
    """

    def __init__(self, times: int = 1) -> None:
        self.left = times
        self.crashed: list[tuple[str, str]] = []
        self._original = None

    def install(self) -> CrashAfterPost:
        """Arm the crash."""
        from chalicelib.domain.task_state import Event
        from chalicelib.store import tasks

        if self._original is not None:
            return self
        original = tasks.transition
        crash = self

        def transition(seller_id, tid, event, **kwargs):
            if event is Event.POST and crash.left > 0:
                crash.left -= 1
                crash.crashed.append((seller_id, tid))
                raise InjectedCrash(f"worker died after posting {tid}")
            return original(seller_id, tid, event, **kwargs)

        self._original = original
        tasks.transition = transition
        return self

    def uninstall(self) -> None:
        """Disarm it."""
        from chalicelib.store import tasks

        if self._original is not None:
            tasks.transition = self._original
            self._original = None

    def __enter__(self) -> CrashAfterPost:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()


# -- the chaos replay -------------------------------------------------------------------------------------------
REFUND_KINDS = frozenset({"refund_created", "refund_closed", "refund_succeeded"})
KIND_OF_TOPIC = {
    "taobao_trade_TradeSuccess": "trade_success",
    "taobao_trade_TradeRated": "buyer_rated",
    "taobao_refund_RefundCreated": "refund_created",
    "taobao_refund_RefundClosed": "refund_closed",
    "taobao_refund_RefundSuccess": "refund_succeeded",
}
NEVER_POSTED = ("skipped:refunded", "skipped:blacklisted", "skipped:dry_run", "held:plan_expired", "expired:")


@dataclass
class ChaosPlan:
    """What goes wrong during a chaos replay, and when (offsets from the replayed market day's midnight).

    Pushes travel a ``PushChannel`` that drops ``drop_rate`` of the messages, delivers the rest
    ``copies`` times each, late (up to ``delay_max_seconds``) and shuffled. The marketplace fails
    ``market_error_rate`` of its calls, is down (HTTP 503) for ``outage_minutes``, and bans the app
    for ``ban_seconds``. One shop's session ends and it authorizes again ``reauth_after`` later. The
    worker crashes once after an accepted post. DynamoDB fails ``ddb_rate`` of its calls in each burst.
    """

    seed: int = 7
    copies: int = 3
    drop_rate: float = 0.10
    delay_max_seconds: float = 600.0
    market_error_rate: float = 0.05
    outage_at: timedelta = timedelta(hours=13)
    outage_minutes: int = 10
    ban_at: timedelta = timedelta(hours=15)
    ban_seconds: int = 1800
    session_end_at: timedelta = timedelta(hours=12)
    reauth_after: timedelta = timedelta(hours=2)
    crash_at: timedelta = timedelta(hours=10)
    ddb_bursts: tuple[tuple[timedelta, timedelta], ...] = (
        (timedelta(hours=11), timedelta(minutes=20)),
        (timedelta(hours=21), timedelta(minutes=15)),
    )
    ddb_rate: float = 0.25
    expired_session_shop: str | None = None  # default: the first shop
    events: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.crash = CrashAfterPost()
        self.dynamo: DynamoFaults | None = None
        self.channel = None
        self.sent: dict[str, tuple[str, str]] = {}  # message id -> (kind, tid)
        self.planned: dict[str, datetime] = {}  # tid -> when the shop's timing policy posts its review
        self.delivered: set[str] = set()
        self._done: set[str] = set()

    # -- during the replay ------------------------------------------------------------------------------
    def start(self, replay) -> None:
        """Build the push channel and arm the marketplace and DynamoDB faults (the timeline does the rest)."""
        from sandbox.market import PushChannel
        from sandbox.world import planned_post_at

        stack = replay.stack
        midnight = replay.day
        specs = {spec.nick: spec for spec in replay.sellers}
        self.planned = {t.tid: planned_post_at(specs[t.seller_nick], t) for t in replay.trades}
        publisher = stack.marketplace.publisher(stack.endpoints.app)  # withholds what the platform would not send
        self.channel = PushChannel(
            publisher,
            random.Random(self.seed),
            duplicate_rate=1.0 if self.copies > 1 else 0.0,
            copies=self.copies,
            reorder=True,
            drop_rate=self.drop_rate,
            delay_max_seconds=self.delay_max_seconds,
            failed_ids=lambda answer: (answer or {}).get("retry", []),
        )
        outage = (midnight + self.outage_at, midnight + self.outage_at + timedelta(minutes=self.outage_minutes))
        unavailable = TopCode.SERVICE_UNAVAILABLE
        stack.marketplace.faults.set("*", error_rate=self.market_error_rate, error_code=unavailable, outage=outage)
        windows = [(midnight + at, midnight + at + length) for at, length in self.ddb_bursts]
        now = stack.clock.now
        self.dynamo = DynamoFaults(
            rate=self.ddb_rate,
            active=lambda: any(start <= now() < end for start, end in windows),
            rng=random.Random(self.seed),
        ).install()

    def push(self, replay, messages: list[dict], now) -> None:
        """Offer this tick's messages to the channel and deliver whatever is due."""
        if self.channel is None:
            self.start(replay)
        for message in messages:
            self.sent[message["id"]] = (KIND_OF_TOPIC.get(message["topic"], message["topic"]), _tid_of(message))
        self.channel.offer(messages)
        for status, answer in self.channel.flush(now):
            replay.push_stats[status] += 1
            for result in (answer or {}).get("results", []):
                replay.push_stats[result["status"]] += 1
                self.delivered.add(str(result["id"]))

    def on_tick(self, replay, now) -> None:
        """Fire the timeline's one-off faults when their time comes."""
        midnight = replay.day
        nick = self.expired_session_shop or replay.sellers[0].nick
        market = replay.stack.marketplace
        if self._once("crash", now >= midnight + self.crash_at):
            self.crash.install()
            self.events.append("worker crash after post armed")
        if self._once("session", now >= midnight + self.session_end_at):
            market.end_sessions(nick)
            self.events.append(f"session of {nick} ended")
        if self._once("reauth", now >= midnight + self.session_end_at + self.reauth_after):
            _authorize_again(replay, nick, now)
            self.events.append(f"{nick} authorized again")
        if self._once("ban", now >= midnight + self.ban_at):
            market.faults.ban(self.ban_seconds)
            self.events.append(f"quota ban of {self.ban_seconds}s")

    def _once(self, name: str, due: bool) -> bool:
        if not due or name in self._done:
            return False
        self._done.add(name)
        return True

    def stop(self, replay=None) -> None:
        """Disarm everything this plan installed (idempotent)."""
        self.crash.uninstall()
        if self.dynamo is not None:
            self.dynamo.uninstall()
        if replay is not None:
            replay.stack.marketplace.faults.clear()

    # -- after it ----------------------------------------------------------------------------------------
    def lost(self) -> dict[str, set[str]]:
        """Per trade, the kinds of message that never reached the app."""
        out: dict[str, set[str]] = {}
        for message_id, (kind, tid) in self.sent.items():
            if message_id not in self.delivered:
                out.setdefault(tid, set()).add(kind)
        return out

    def report(self, trades, outcomes: dict[str, str], post_counts: dict[str, int]) -> tuple[list[str], bool]:
        """The summary lines of the chaos and whether the invariants held."""
        near = timedelta(seconds=self.delay_max_seconds)
        verdict = judge(trades, outcomes, post_counts, self.lost(), near=near, planned=self.planned)
        stats = self.channel.stats if self.channel else None
        lines = ["chaos:"]
        if stats:
            lines.append(
                f"  push channel: offered {stats.offered}, dropped {stats.dropped}, duplicated {stats.duplicated}, "
                f"redelivered {stats.redelivered}"
            )
        injected = dict(self.dynamo.injected) if self.dynamo else {}
        lines.append("  dynamodb faults: " + (", ".join(f"{k} {n}" for k, n in sorted(injected.items())) or "none"))
        lines.append("  crash after post: " + (", ".join(tid for _, tid in self.crash.crashed) or "none"))
        lines += [f"  {event}" for event in self.events]
        lines += [f"  {line}" for line in verdict.lines]
        return lines, verdict.ok


@dataclass(frozen=True)
class Verdict:
    """The invariants of a chaos run, counted, and the lines that explain them."""

    double_posts: int
    lost_reviews: int
    forbidden_posts: int
    claimed: int
    other: int
    lines: list[str]

    @property
    def ok(self) -> bool:
        return not (self.double_posts or self.lost_reviews or self.forbidden_posts or self.claimed or self.other)


def allowed_outcomes(trade, lost: set[str], near: timedelta, planned: datetime | None = None) -> set[str]:
    """The outcomes a trade may reach when ``lost`` kinds of its messages never arrived.

    Trades and buyer ratings are reconciled, so their loss costs only time: a review may then come
    after a bad rating the app saw first (skip), or before one that came too late to stop it (post).
    Refunds are not reconciled: a refund the app never heard of cannot stop a post, and a lost closing
    message leaves the task held.
    """
    allowed = {trade.expect}
    rating = trade.buyer_rating
    bad_rating = rating is not None and rating[1] != "good"
    if trade.expect == "posted" and bad_rating:
        allowed.add("skipped:buyer_bad_rating")
    close_call = rating is not None and abs(rating[0] - (planned or trade.post_at or trade.ended_at)) <= near
    if trade.expect == "skipped:buyer_bad_rating" and ("buyer_rated" in lost or close_call):
        allowed.add("posted")
    if trade.expect in ("posted", "skipped:refunded") and lost & {"refund_closed", "refund_succeeded"}:
        allowed.add("held:refund")
    if trade.expect == "skipped:refunded" and lost & REFUND_KINDS:
        allowed.add("posted")
    if trade.expect == "skipped:filter_dispute_buyer" and lost & REFUND_KINDS:
        # The dispute was never heard of (nothing marks the buyer), or its closing message never came.
        allowed |= {"posted", "held:refund"}
    if trade.skip_by_item_id and lost & REFUND_KINDS:
        # A refund never heard of neither holds nor skips the review: the item filter skips it before posting.
        allowed.add("skipped:filter_item_skipped")
    if trade.expect.startswith("expired:"):
        allowed.add("missing")
    return allowed


def judge(
    trades,
    outcomes: dict[str, str],
    post_counts: dict[str, int],
    lost: dict[str, set[str]],
    *,
    near: timedelta,
    planned: dict[str, datetime] | None = None,
) -> Verdict:
    """Check the chaos invariants: no double post, no lost eligible review, no post where none may be, no task
    left claimed; any other outcome outside what the lost messages explain is counted too."""
    double = [t for t in trades if post_counts.get(t.tid, 0) > 1]
    claimed = [t for t in trades if outcomes.get(t.tid, "missing").startswith("claimed")]
    lost_reviews, forbidden, other, explained = [], [], [], Counter()
    for t in trades:
        got = outcomes.get(t.tid, "missing")
        allowed = allowed_outcomes(t, lost.get(t.tid, set()), near, (planned or {}).get(t.tid))
        if got != t.expect and got in allowed:
            explained[f"{t.expect} -> {got}"] += 1
        if got in allowed or got.startswith("claimed"):
            continue
        if t.expect == "posted":
            lost_reviews.append((t, got))
        elif got == "posted" and t.expect.startswith(NEVER_POSTED):
            forbidden.append((t, got))
        elif not got.startswith("claimed"):
            other.append((t, got))
    lines = [
        f"double posts {len(double)} · lost eligible reviews {len(lost_reviews)} · "
        f"posts where none may be {len(forbidden)} · tasks left claimed {len(claimed)} · other {len(other)}",
    ]
    lines += [f"explained by lost messages: {what} ({n})" for what, n in sorted(explained.items())]
    for t, got in (lost_reviews + forbidden + other)[:10]:
        lines.append(f"violation tid {t.tid} ({t.seller_nick}): expected {t.expect}, got {got}")
    return Verdict(len(double), len(lost_reviews), len(forbidden), len(claimed), len(other), lines)


def _tid_of(message: dict) -> str:
    try:
        return str(json.loads(message["content"]).get("tid"))
    except (ValueError, TypeError, AttributeError):
        return ""


def _authorize_again(replay, nick: str, now) -> None:
    """The shop authorizes the app again (the marketplace's OAuth code exchanged by the app's use case)."""
    from chalicelib.container import container
    from chalicelib.services.onboarding.onboard_seller import onboard

    redirect = f"{replay.stack.endpoints.app}/oauth/callback"
    code = replay.stack.marketplace.auth.authorize(nick, redirect)
    onboard(container().oauth().exchange_code(code, redirect), now=now)

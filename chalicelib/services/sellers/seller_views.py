"""What a seller sees: the task list (newest first, by cursor), per-day statistics, the subscription.

Every function takes the seller id from the session and reads only that seller's partition.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from chalicelib.domain.market_time import MARKET_TZ, market_date
from chalicelib.domain.plans import UnknownPlan, plan_for
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import SellerView, view_of
from chalicelib.store import sellers, stats, task_queries
from chalicelib.store.models import STAT_COUNTERS, Task

SKIP_REASONS = ("blacklisted", "refunded", "dry_run", "buyer_bad_rating", "cancelled", "disabled", "other", "filtered")
RATINGS = ("good", "neutral", "bad")
# The days a task list can be filtered by: any trade of the app's lifetime (and no date arithmetic overflows).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
MAX_CURSOR_CHARS = 512
MAX_CURSOR_NUMBER = 2**53  # any epoch second, far below DynamoDB's 38 digits


class SellerMissing(LookupError):
    """The session names a seller the app does not (or no longer) know."""


class CursorInvalid(ValueError):
    """A pagination cursor that this API did not hand out."""


class DayOutOfRange(ValueError):
    """A market day outside the years any trade can have (the API's schema says the same)."""


def seller_view(seller_id: str) -> SellerView:
    """The seller's current record (read consistently) as the pipeline sees it; raise ``SellerMissing``."""
    seller = sellers.get(seller_id)
    if seller is None or seller.status == "purged":
        raise SellerMissing(seller_id)
    return view_of(seller)


# -- cursors ---------------------------------------------------------------------------------------------------
def encode_cursor(position: list) -> str:
    """An opaque cursor for a position in the seller's own partition (never names the seller)."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).rstrip(b"=").decode()


def decode_cursor(text: str, types: tuple[type, ...]) -> list:
    """The position in ``text``, whose parts must have ``types``; raise ``CursorInvalid``."""
    if not text or len(text) > MAX_CURSOR_CHARS or not text.isascii():
        raise CursorInvalid("malformed cursor")
    try:
        position = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        raise CursorInvalid("malformed cursor") from None
    if (
        not isinstance(position, list)
        or len(position) != len(types)
        or not all(type(part) is kind for part, kind in zip(position, types, strict=True))
        or any(part == "" for part in position)
        # A key part DynamoDB would refuse (a number of 40 digits) is not a position this API handed out.
        or any(type(part) is int and not 0 <= part <= MAX_CURSOR_NUMBER for part in position)
    ):
        raise CursorInvalid("malformed cursor")
    return position


# -- tasks -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskFilter:
    """Which tasks to list: states (None = all) and the market days their trades ended on (inclusive)."""

    states: Collection[str] | None = None
    first_day: date | None = None
    last_day: date | None = None


def _day_start(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=MARKET_TZ).timestamp())


def list_tasks(seller_id: str, *, where: TaskFilter, cursor: str | None, limit: int) -> tuple[list[Task], str | None]:
    """A page of the seller's tasks, newest trade first, and the cursor of the next page (None at the end)."""
    after = None
    if cursor:
        trade_end, tid = decode_cursor(cursor, (int, str))
        after = (trade_end, tid)
    if any(day and not FIRST_DAY <= day <= LAST_DAY for day in (where.first_day, where.last_day)):
        raise DayOutOfRange(f"days run from {FIRST_DAY} to {LAST_DAY}")
    first = _day_start(where.first_day) if where.first_day else None
    last = _day_start(where.last_day + timedelta(days=1)) - 1 if where.last_day else None
    page = task_queries.page_by_trade_end(
        seller_id, limit=limit, first=first, last=last, after=after, states=where.states
    )
    return page.tasks, encode_cursor(list(page.next_key)) if page.next_key else None


# -- statistics ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayStats:
    """One market day's outcomes: reviews posted, skipped by reason, failed, expired, buyer ratings received."""

    day: date
    posted: int
    skipped: Mapping[str, int]
    failed: int
    expired: int
    ratings: Mapping[str, int]


def day_stats(first: date, last: date, buckets: Iterable[tuple[str, Mapping[str, int]]]) -> list[DayStats]:
    """Fold stored buckets into one ``DayStats`` per market day from ``first`` to ``last``, oldest first.

    Hour buckets (``2026-11-28T13``) hold the posts (the rate cap's counters), so a day's posts are the
    sum of its hours; day buckets (``2026-11-28``) hold everything else. Days without buckets are zeros.
    """
    days = {first + timedelta(days=i): _Counts() for i in range((last - first).days + 1)}
    for key, counters in buckets:
        try:
            day = date.fromisoformat(key[:10])
        except ValueError:
            continue
        if day not in days:
            continue
        counts = days[day]
        if "T" in key:
            counts.posted += int(counters.get("posts") or 0)
            continue
        for reason in SKIP_REASONS:
            counts.skipped[reason] += int(counters.get(f"skipped_{reason}") or 0)
        counts.failed += int(counters.get("failed") or 0)
        counts.expired += int(counters.get("expired") or 0)
        for rating in RATINGS:
            counts.ratings[rating] += int(counters.get(f"rating_{rating}") or 0)
    return [counts.freeze(day) for day, counts in sorted(days.items())]


@dataclass
class _Counts:
    posted: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    failed: int = 0
    expired: int = 0
    ratings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))

    def freeze(self, day: date) -> DayStats:
        return DayStats(day, max(self.posted, 0), self.skipped, self.failed, self.expired, self.ratings)


def stats_for(seller_id: str, *, days: int, now: datetime) -> list[DayStats]:
    """The last ``days`` market days (today included) of the seller's counters, oldest first: one Query."""
    if days < 1:
        raise ValueError("days must be at least 1")
    last = market_date(now)
    first = last - timedelta(days=days - 1)
    rows = stats.read_range(seller_id, first.isoformat(), last.isoformat())
    return day_stats(first, last, ((row.bucket, _counters(row)) for row in rows))


def _counters(row) -> dict[str, int]:
    return {name: int(getattr(row, name) or 0) for name in STAT_COUNTERS}


# -- subscription ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subscription:
    """The seller's plan and paid period as the dashboard shows it."""

    shop: str
    status: str
    plan: str | None
    plan_name: str | None
    plan_name_en: str | None
    active: bool
    paid_until: datetime | None
    days_left: int
    features: frozenset[str]
    hourly_cap: int
    backfill: Backfill | None = None


@dataclass(frozen=True)
class Backfill:
    """The install backfill's progress: ``running``, ``done`` or ``stopped`` (with ``reason``), the day windows of
    the rating window read so far, and what became of the trades found."""

    state: str
    reason: str | None
    started_at: datetime
    finished_at: datetime | None
    days: int
    days_done: int
    trades: int
    scheduled: int
    already_rated: int
    existing: int
    skipped: int


def backfill_of(progress: Mapping | None) -> Backfill | None:
    """The stored progress (``services.onboarding.backfill``) as the seller sees it; None when no backfill ever ran."""
    if not progress:
        return None

    def moment(name: str) -> datetime | None:
        return datetime.fromtimestamp(progress[name], UTC) if progress.get(name) else None

    counts = {name: int(progress.get(name) or 0) for name in ("trades", "scheduled", "already_rated", "existing")}
    return Backfill(
        state=str(progress.get("state") or "running"),
        reason=progress.get("reason"),
        started_at=moment("started_at") or datetime.fromtimestamp(0, UTC),
        finished_at=moment("finished_at"),
        days=int(progress.get("windows") or 0),
        days_done=int(progress.get("windows_done") or 0),
        skipped=int(progress.get("skipped") or 0),
        **counts,
    )


def subscription_of(seller_id: str, *, now: datetime) -> Subscription:
    """Plan, paid-until, features, whole or partial days left (0 once the paid period is over) and the install
    backfill's progress."""
    view = seller_view(seller_id)
    seller = view.seller
    paid_until = datetime.fromtimestamp(seller.paid_until, UTC) if seller.paid_until else None
    active = view.entitled(now)
    left = math.ceil((paid_until - now).total_seconds() / 86400) if active and paid_until else 0
    try:
        plan = plan_for(seller.plan, rules_in_force()) if seller.plan else None
    except UnknownPlan:
        plan = None
    return Subscription(
        shop=seller.nick,
        status=seller.status,
        plan=seller.plan,
        plan_name=plan.name if plan else None,
        plan_name_en=(plan.name_en or plan.name) if plan else None,
        active=active,
        paid_until=paid_until,
        days_left=left,
        features=view.features(),
        hourly_cap=view.hourly_cap(),
        backfill=backfill_of(seller.backfill),
    )

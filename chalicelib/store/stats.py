"""Per-seller counters by market day and hour, bumped with atomic ADDs (no read-modify-write)."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.store.models import STAT_COUNTERS, Stats

RETENTION = timedelta(days=400)


def day_bucket(market_day: str) -> str:
    """Bucket key of a market day (``2026-11-28``)."""
    return market_day


def hour_bucket(market_day: str, hour: int) -> str:
    """Bucket key of a market hour (``2026-11-28T13``)."""
    return f"{market_day}T{hour:02d}"


def counter_name(kind: str, reason: str | None = None) -> str:
    """The counter for an outcome: ``skipped`` + ``blacklisted`` → ``skipped_blacklisted``."""
    if kind == "skipped" and (reason or "").startswith("filter_"):
        return "skipped_filtered"  # every order filter's skip counts together; the task keeps which one
    name = f"{kind}_{reason}" if reason else kind
    if name in STAT_COUNTERS:
        return name
    return "skipped_other" if kind == "skipped" else kind


def bump(seller_id: str, bucket: str, counters: dict[str, int], *, now: datetime) -> dict[str, int]:
    """Add ``counters`` to the bucket and return every counter of the bucket after the update."""
    item = Stats(seller_id, bucket)
    actions = [getattr(Stats, name).add(delta) for name, delta in counters.items()]
    actions.append(Stats.expire_at.set(now + RETENTION))
    item.update(actions=actions)
    return {name: int(getattr(item, name) or 0) for name in (*STAT_COUNTERS, "write_failures", "explains", "memos")}


def read_range(seller_id: str, first: str, last: str) -> list[Stats]:
    """Every bucket of a seller between two bucket keys (inclusive), one Query."""
    return list(Stats.query(seller_id, Stats.bucket.between(first, last + "~")))

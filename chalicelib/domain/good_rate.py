"""好评率 and the items buyers complain about, from counts a seller's shop already has (pure).

好评率 is counted as the marketplace shows it on a seller's rating page: good ratings received from buyers divided
by all good, neutral and bad ratings received in the period (see docs/alerts.md for the definition and its
limits). A period without ratings has no rate (None), never 100 %.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

WINDOWS = (30, 90, 180)
TOP_ITEMS = 10


@dataclass(frozen=True)
class GoodRate:
    """One period's ratings received, 好评率, and how many of its neutral/bad ratings were explained."""

    days: int
    good: int
    neutral: int
    bad: int
    explained: int

    @property
    def rate(self) -> float | None:
        """Good over all ratings (0–1), None without ratings."""
        total = self.good + self.neutral + self.bad
        return round(self.good / total, 4) if total else None

    @property
    def explained_share(self) -> float | None:
        """Explained over neutral and bad ratings (0–1), None without any."""
        complaints = self.neutral + self.bad
        return round(min(self.explained, complaints) / complaints, 4) if complaints else None


def good_rates(today: date, per_day: Mapping[date, Mapping[str, int]], explained_on: Iterable[date]) -> list[GoodRate]:
    """The 30/90/180-day periods ending ``today`` (market days, today included)."""
    explained = list(explained_on)
    found = []
    for days in WINDOWS:
        first = today - timedelta(days=days - 1)
        inside = [counts for day, counts in per_day.items() if first <= day <= today]
        found.append(
            GoodRate(
                days=days,
                good=sum(int(c.get("good", 0)) for c in inside),
                neutral=sum(int(c.get("neutral", 0)) for c in inside),
                bad=sum(int(c.get("bad", 0)) for c in inside),
                explained=sum(1 for day in explained if first <= day <= today),
            )
        )
    return found


@dataclass(frozen=True)
class ItemComplaints:
    """An item (宝贝) and the neutral and bad ratings it drew."""

    item: str
    neutral: int
    bad: int


def most_complained(ratings: Iterable[tuple[str, str]], *, limit: int = TOP_ITEMS) -> list[ItemComplaints]:
    """Items by neutral+bad ratings drawn, most first (bad ratings break ties), from (item title, result) pairs."""
    neutral: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    for item, result in ratings:
        (bad if result == "bad" else neutral)[item] += 1
    items = set(neutral) | set(bad)
    ranked = sorted(items, key=lambda i: (-(neutral[i] + bad[i]), -bad[i], i))
    return [ItemComplaints(i, neutral[i], bad[i]) for i in ranked[:limit]]

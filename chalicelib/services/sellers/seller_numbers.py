"""Use case: the numbers a seller reads — 好评率 over 30/90/180 days, the items drawing the most neutral and bad
ratings, and the share of those ratings explained."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from chalicelib.domain.good_rate import WINDOWS, GoodRate, ItemComplaints, good_rates, most_complained
from chalicelib.domain.market_time import MARKET_TZ, market_date
from chalicelib.services.sellers.seller_views import stats_for
from chalicelib.store import ratings


@dataclass(frozen=True)
class Numbers:
    """The seller's rating numbers as of one market day."""

    today: date
    rates: list[GoodRate]
    items: list[ItemComplaints]
    unknown_item: int  # neutral/bad ratings whose item title is not on record


def numbers_of(seller_id: str, *, now: datetime) -> Numbers:
    """Two queries: the 180 days' counters, and the neutral/bad ratings received in them."""
    longest = max(WINDOWS)
    today = market_date(now)
    per_day = {d.day: d.ratings for d in stats_for(seller_id, days=longest, now=now)}
    first_day = today - timedelta(days=longest - 1)
    start = datetime.combine(first_day, datetime.min.time(), MARKET_TZ).astimezone(UTC)
    received = ratings.received_between(seller_id, int(start.timestamp()), int(now.timestamp()))
    explained_on = [
        market_date(datetime.fromtimestamp(int(t.bad_rated_at), UTC))
        for t in received
        if (ratings.explanation_of(t) or {}).get("state") == "explained"
    ]
    titled = [(t.item_title, t.buyer_rating or "neutral") for t in received if t.item_title]
    return Numbers(
        today=today,
        rates=good_rates(today, per_day, explained_on),
        items=most_complained(titled),
        unknown_item=sum(1 for t in received if not t.item_title),
    )
